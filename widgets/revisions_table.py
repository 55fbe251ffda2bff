"""A service's revisions: traffic, readiness, RED metrics and cost, with moves marked ↑/↓."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from console.saturation import COLD_START_WARNING
from widgets.format import age, ms, pct, rate, short_image, short_revision, trend, usd, with_trend
from widgets.keyed_table import KeyedTable, fits_width
from widgets.palette import ACTIVE, ALARM, OK, WARN

MEMORY_WARNING = 0.90  # analysis.memory_warning_percent's default, as a fraction


class RevisionsTable(KeyedTable):
    """`show(service, previous)`: `service` is a ServiceStatus; row keys are revision names."""

    COLUMNS = (
        "revision", "age", "image", "tag", "traffic", "ready", "inst", "req/s", "5xx", "p50", "p95", "p99", "cost/h", "$/1k req",
        "cpu", "mem", "cold",
    )
    #: under NARROW_BELOW cells the full row would scroll sideways: the image (the filter still
    #: matches it), p50, p99 and cost per 1k requests go; what a step is judged on stays
    NARROW_COLUMNS = ("revision", "age", "tag", "traffic", "ready", "inst", "req/s", "5xx", "p95", "cost/h")
    NARROW_BELOW = 136
    DEFAULT_CSS = """
    RevisionsTable { height: auto; max-height: 12; }
    """
    #: `[analysis]` memory_warning_percent and cold_start_warning_percent as fractions (the screen sets them)
    memory_warning: float = MEMORY_WARNING
    cold_start_warning: float = COLD_START_WARNING

    @fits_width
    def show(self, service: Any, previous: Any | None = None, roles: Mapping[str, str] | None = None, filter_text: str = "") -> None:
        roles = roles or {}
        old = {r.name: r for r in previous.revisions} if previous is not None else {}
        cursor = self.cursor_row
        self.clear()
        needle = filter_text.lower()
        for r in service.revisions:
            if needle and needle not in f"{r.name} {r.image} {r.tag or ''}".lower():
                continue
            o = old.get(r.name)
            tag = r.tag or ""
            role = roles.get(r.name)
            if role and role != tag:
                tag = f"{tag} ({role})" if tag else f"({role})"
            traffic = Text(f"{r.traffic_percent} %", style="bold" if r.traffic_percent else "dim")
            if o is not None and o.traffic_percent != r.traffic_percent:
                traffic.append(" ↑" if r.traffic_percent > o.traffic_percent else " ↓", style=ACTIVE)
            ready = Text("✔ yes", style=OK) if r.ready else Text("✖ no", style=ALARM)
            cells = {
                "revision": short_revision(r.name, service.service),
                "age": age(r.age_seconds),
                "image": short_image(r.image),
                "tag": tag,
                "traffic": traffic,
                "ready": ready,
                "inst": "—" if r.instances is None else str(r.instances),
                "req/s": with_trend(rate(r.request_rate), trend(r.request_rate, o and o.request_rate), bad_when_up=False),
                "5xx": with_trend(pct(r.error_rate), trend(r.error_rate, o and o.error_rate, relative=0.25, absolute=0.002)),
                "p50": with_trend(ms(r.p50_ms), trend(r.p50_ms, o and o.p50_ms, relative=0.15)),
                "p95": with_trend(ms(r.p95_ms), trend(r.p95_ms, o and o.p95_ms, relative=0.15)),
                "p99": with_trend(ms(r.p99_ms), trend(r.p99_ms, o and o.p99_ms, relative=0.15)),
                "cost/h": usd(r.cost_per_hour),
                "$/1k req": usd(r.cost_per_1k_requests),
                **saturation_cells(r, self.memory_warning, self.cold_start_warning),
            }
            self.add_cells(cells, key=r.name)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1), animate=False)


def saturation_cells(
    r: Any, memory_warning: float = MEMORY_WARNING, cold_start_warning: float = COLD_START_WARNING
) -> dict[str, Text | str]:
    """cpu and memory p95 (of the limits), cold starts (share of requests), OOM kills marked ✖ on memory;
    memory and cold starts over the configured warnings (`[analysis]`) marked ▲."""
    cpu = pct(getattr(r, "cpu_p95", None), 0)
    memory_p95 = getattr(r, "memory_p95", None)
    kills = getattr(r, "oom_kills", None) or 0
    memory = Text(pct(memory_p95, 0))
    if kills:
        memory = Text(f"✖ {pct(memory_p95, 0)} {kills} OOM", style=ALARM)
    elif memory_p95 is not None and memory_p95 > memory_warning:
        memory = Text(f"▲ {pct(memory_p95, 0)}", style=WARN)
    share = getattr(r, "cold_start_share", None)
    cold = Text(pct(share, 1))
    if share is not None and share > cold_start_warning:
        cold = Text(f"▲ {pct(share, 1)}", style=WARN)
    return {"cpu": cpu, "mem": memory, "cold": cold}
