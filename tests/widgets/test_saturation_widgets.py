"""Saturation on screen (issue 14): the revisions table's cpu/mem/cold cells, the fleet's health flag for
OOM kills and cold starts, the cost panel's idle min-instance line — and the figures they draw from."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App, ComposeResult

from console.status import RevisionStatus, ServiceStatus
from widgets.cost import CostPanel, CostView
from widgets.revisions_table import saturation_cells
from widgets.summary import summarize


def revision(**saturation) -> RevisionStatus:
    base = dict(name="api-00002-bbb", traffic_percent=100, tag=None, ready=True, created="", image="i", request_rate=5.0,
                error_rate=0.001, p50_ms=50.0, p95_ms=100.0, p99_ms=200.0, instances=1, cost_per_hour=0.1,
                cost_per_1k_requests=0.01, age_seconds=60.0, requests=3000, errors=3)
    return RevisionStatus(**base, **saturation)


def service(*revisions: RevisionStatus) -> ServiceStatus:
    return ServiceStatus("staging", "api", "p", "r", False, None, list(revisions))


def test_cells_mark_oom_kills_high_memory_and_cold_starts():
    plain = saturation_cells(revision(cpu_p95=0.34, memory_p95=0.51, cold_start_share=0.001))
    assert plain["cpu"] == "34 %" and plain["mem"].plain == "51 %" and plain["cold"].plain == "0.1 %"
    killed = saturation_cells(revision(memory_p95=0.97, oom_kills=3, cold_start_share=0.42))
    assert killed["mem"].plain == "✖ 97 % 3 OOM" and killed["cold"].plain == "▲ 42.0 %"
    assert saturation_cells(revision(memory_p95=0.93))["mem"].plain == "▲ 93 %"
    assert saturation_cells(revision())["cpu"] == "—"  # no data
    # the warnings are the config's ([analysis] memory_warning_percent, cold_start_warning_percent)
    stricter = saturation_cells(revision(memory_p95=0.85, cold_start_share=0.12), memory_warning=0.8, cold_start_warning=0.1)
    assert stricter["mem"].plain == "▲ 85 %" and stricter["cold"].plain == "▲ 12.0 %"


def test_the_fleet_flags_oom_kills_and_cold_starts_over_30_percent():
    assert summarize(service(revision(cold_start_share=0.05))).health == "ok"
    assert (summarize(service(revision(cold_start_share=0.31))).health_word) == "cold starts"
    assert summarize(service(revision(cold_start_share=0.12)), cold_start_warning=0.10).health_word == "cold starts"
    flagged = summarize(service(revision(oom_kills=1)))
    assert (flagged.health, flagged.health_word) == ("bad", "OOM kills")


class CostApp(App):
    def __init__(self, view: CostView):
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield CostPanel()

    def on_mount(self) -> None:
        self.query_one(CostPanel).show(self.view)


async def test_the_cost_panel_prices_idle_min_instances():
    app = CostApp(CostView(min_instances=(("00002-bbb (stable)", 1, 0.0684),)))
    async with app.run_test(size=(140, 12)):
        console = Console(width=200, file=io.StringIO(), color_system=None)
        console.print(app.query_one(CostPanel).content)
        text = console.file.getvalue()
    assert "min instances: 00002-bbb (stable) keeps 1 warm — $0.0684/h idle ($49.93 a month)" in text


def test_oom_kills_are_events_on_the_timeline():
    from console.incident import Marker, RevisionPoint
    from widgets.timeline import LABEL, TimelineView, timeline_lines

    points = {"api-00002-bbb": [RevisionPoint(i * 60.0, (i + 1) * 60.0, 100, 1, 0.01, 100.0) for i in range(60)]}
    kill = Marker(1800.0, "oom", "Cloud Run", "api-00002-bbb: Memory limit of 512 MiB exceeded with 531 MiB used.",
                  "api-00002-bbb", source="run")
    lines = timeline_lines(TimelineView("1h", 0.0, 3600.0, 60, points, [kill], service="api"), LABEL + 60)
    text = "\n".join(line.plain for line in lines)
    marker_row = next(line.plain for line in lines if line.plain.strip().startswith("markers"))
    assert marker_row[LABEL + 30] == "M"  # at 00:30 of the hour
    assert "M 00:30  OOM kill      Cloud Run  00002-bbb: Memory limit of 512 MiB" in text
