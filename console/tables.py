"""Rich renderings of console state for a terminal (headless faces: status, CI progress)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from console.status import FleetStatus, ServiceStatus, iso


def fmt_percent(fraction: float | None, digits: int = 2) -> str:
    return "—" if fraction is None else f"{fraction * 100:.{digits}f} %"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:.0f} ms"


def fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}/s"


def fmt_usd(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"${value:.{digits}f}"


def fmt_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def service_table(service: ServiceStatus) -> Table | Text:
    title = f"{service.env} / {service.service}  ({service.project}, {service.region})"
    if service.error and not service.revisions:
        return Text.assemble((title, "bold"), "\n", (f"✗ {service.error}", "red"))
    if service.rollout:
        title += f"  rollout: {service.rollout.get('phase', '?')}"
    table = Table(title=title, title_justify="left", expand=False)
    for column, justify in [
        ("revision", "left"), ("traffic", "right"), ("tag", "left"), ("ready", "center"), ("age", "right"),
        ("req/s", "right"), ("5xx", "right"), ("p50", "right"), ("p95", "right"), ("p99", "right"),
        ("inst", "right"), ("cost/h", "right"), ("image", "left"),
    ]:
        table.add_column(column, justify=justify, no_wrap=column != "image")
    if service.error:
        table.caption = Text(f"✗ {service.error}", style="red")
    for rev in service.revisions:
        serving = rev.traffic_percent > 0
        table.add_row(
            Text(rev.name, style="bold" if serving else ""),
            f"{rev.traffic_percent} %",
            rev.tag or "",
            Text("✓", style="green") if rev.ready else Text("✗", style="red"),
            fmt_age(rev.age_seconds),
            fmt_rate(rev.request_rate),
            fmt_percent(rev.error_rate),
            fmt_ms(rev.p50_ms),
            fmt_ms(rev.p95_ms),
            fmt_ms(rev.p99_ms),
            "—" if rev.instances is None else str(rev.instances),
            fmt_usd(rev.cost_per_hour),
            rev.image.rsplit("/", 1)[-1],
        )
    return table


def fleet_view(fleet: FleetStatus, header: str = "") -> Group:
    parts: list = []
    if header:
        parts.append(Text(header, style="bold"))
    parts.append(
        Text(f"metrics over {iso(fleet.window_start)} → {iso(fleet.window_end)} (complete windows only)", style="dim")
    )
    parts.extend(service_table(service) for service in fleet.services)
    return Group(*parts)
