"""The status table on a narrow terminal leaves columns out (and says so) instead of squeezing cells."""

from __future__ import annotations

import io
import re

from rich.console import Console

from console.status import RevisionStatus, ServiceStatus
from console.tables import DROPPED_WHEN_NARROW, STATUS_COLUMNS, fleet_view, service_table

BOX_DRAWING = re.compile("[\u2500-\u257f]")


def _service() -> ServiceStatus:
    def revision(name: str, percent: int, tag: str | None) -> RevisionStatus:
        return RevisionStatus(
            name=name, traffic_percent=percent, tag=tag, ready=True, created="2026-11-28T09:00:00Z",
            image="us-docker.pkg.dev/vinsight/app/backend:v1.6.12", request_rate=10.1 if percent else None,
            error_rate=0.0023 if percent else None, p50_ms=183.0, p95_ms=472.0, p99_ms=697.0, instances=2,
            cost_per_hour=0.0941, cost_per_1k_requests=0.0026, age_seconds=3 * 86400,
        )

    return ServiceStatus("staging", "vinsight-backend", "vinsight-staging", "us-central1", False, None, [
        revision("vinsight-backend-00055-evi", 0, "candidate"), revision("vinsight-backend-00054-jif", 100, None),
    ])


def _render(renderable, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def headers(table) -> list[str]:
    return [str(column.header) for column in table.columns]


def test_every_column_when_it_fits():
    table = service_table(_service(), width=200)
    assert headers(table) == [name for name, _ in STATUS_COLUMNS]
    assert table.caption is None


def test_a_narrow_terminal_drops_secondary_columns_and_says_which():
    table = service_table(_service(), width=90)
    shown = headers(table)
    assert {"revision", "traffic", "5xx", "p95"} <= set(shown)
    left_out = [name for name, _ in STATUS_COLUMNS if name not in shown]
    assert left_out and set(left_out) <= set(DROPPED_WHEN_NARROW)
    text = _render(table, 90)
    assert "…" not in text and "00054-jif" in text and "0.23 %" in text
    assert all(len(line) <= 90 for line in text.splitlines())
    assert "terminal too narrow: " + ", ".join(DROPPED_WHEN_NARROW[: len(left_out)]) in " ".join(text.split())


def test_at_80_columns_the_tag_stays_and_revision_names_shrink_to_their_suffix():
    table = service_table(_service(), width=80)
    assert {"revision", "traffic", "tag", "5xx", "p95"} <= set(headers(table))
    text = _render(table, 80)
    assert "candidate" in text and "00055-evi" in text and "vinsight-backend-00055-evi" not in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_in_a_pipe_tables_are_plain_aligned_columns(capsys):
    from console.output import print_view
    from console.status import FleetStatus

    fleet = FleetStatus(read_at=1_764_000_360, window_start=1_764_000_000, window_end=1_764_000_300, services=[_service()])
    print_view(lambda width: fleet_view(fleet, "vinconsole status", width))
    out = capsys.readouterr().out
    assert not BOX_DRAWING.search(out), out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("revision"))
    row = next(line for line in lines if line.startswith("vinsight-backend-00054-jif"))
    assert row.index("100 %") + len("100 %") == header.index("traffic") + len("traffic")  # right-aligned under it


def test_a_promoted_revision_that_keeps_the_candidate_tag_reads_as_stable():
    from console.status import tags_by_revision

    tags = {"candidate": "svc-00064-rzr", "stable": "svc-00064-rzr", "previous": "svc-00063-tzo"}
    assert tags_by_revision(tags, "stable", "candidate") == {
        "svc-00064-rzr": ["stable", "candidate"], "svc-00063-tzo": ["previous"],
    }
