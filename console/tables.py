"""Rich renderings of console state for a terminal (headless faces: status, CI progress)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group, JustifyMethod
from rich.table import Table
from rich.text import Text

from console.status import FleetStatus, ServiceStatus
from console.units import age, iso, ms, pct, rate, usd

#: (column, justify); the status table's columns in order
STATUS_COLUMNS: tuple[tuple[str, JustifyMethod], ...] = (
    ("revision", "left"), ("traffic", "right"), ("tag", "left"), ("ready", "center"), ("age", "right"),
    ("req/s", "right"), ("5xx", "right"), ("p50", "right"), ("p95", "right"), ("p99", "right"),
    ("inst", "right"), ("cost/h", "right"), ("image", "left"),
)
#: what goes first when a terminal is too narrow for every column: the service-name prefix of revision
#: names (the title names the service), then secondary columns; traffic, tag, 5xx and p95 always stay
DROPPED_WHEN_NARROW = ("revision prefixes", "image", "p50", "p99", "inst", "age", "cost/h")


def service_table(service: ServiceStatus, width: int | None = None) -> Table | Text:
    """The revisions of one service; with `width` (a terminal's), columns that don't fit are left out
    (named in the caption) rather than squeezed to '…'."""
    title = f"{service.env} / {service.service}  ({service.project}, {service.region})"
    if service.error and not service.revisions:
        return Text.assemble((title, "bold"), "\n", (f"✗ {service.error}", "red"))
    if service.rollout:
        title += f"  rollout: {service.rollout.get('phase', '?')}"
    return fit_to_width(lambda left_out: _revisions_table(service, title, left_out), DROPPED_WHEN_NARROW, width)


def fit_to_width(build: Callable[[Sequence[str]], Table], optional: Sequence[str], width: int | None) -> Table:
    """`build(left_out)`, leaving out the `optional` columns in order until the table fits `width` (None:
    no terminal, leave nothing out); the caption says what was left out."""
    left_out: Sequence[str] = ()
    table = build(left_out)
    while width is not None and _width(table) > width and len(left_out) < len(optional):
        left_out = optional[: len(left_out) + 1]
        table = build(left_out)
    if left_out:
        note = Text(f"(terminal too narrow: {', '.join(left_out)} left out; widen it or use --json)", style="dim")
        table.caption = Text("\n").join([table.caption, note]) if isinstance(table.caption, Text) else note
        table.caption_justify = "left"
    return table


def _width(table: Table) -> int:
    from rich.console import Console

    return Console(width=10_000).measure(table).maximum


def _revisions_table(service: ServiceStatus, title: str, left_out: Sequence[str]) -> Table:
    columns = [(name, justify) for name, justify in STATUS_COLUMNS if name not in left_out]
    short_names = "revision prefixes" in left_out
    table = Table(title=title, title_justify="left", expand=False)
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=column != "image")
    if service.error:
        table.caption = Text(f"✗ {service.error}", style="red")
    for rev in service.revisions:
        cells: dict[str, str | Text] = {
            "revision": Text(rev.name.removeprefix(service.service + "-") if short_names else rev.name,
                             style="bold" if rev.traffic_percent > 0 else ""),
            "traffic": f"{rev.traffic_percent} %",
            "tag": ",".join(rev.tags) if rev.tags else rev.tag or "",
            "ready": Text("✓", style="green") if rev.ready else Text("✗", style="red"),
            "age": age(rev.age_seconds),
            "req/s": rate(rev.request_rate),
            "5xx": pct(rev.error_rate),
            "p50": ms(rev.p50_ms),
            "p95": ms(rev.p95_ms),
            "p99": ms(rev.p99_ms),
            "inst": "—" if rev.instances is None else str(rev.instances),
            "cost/h": usd(rev.cost_per_hour),
            "image": rev.image.rsplit("/", 1)[-1],
        }
        table.add_row(*(cells[name] for name, _ in columns))
    return table


def fleet_view(fleet: FleetStatus, header: str = "", width: int | None = None) -> Group:
    parts: list = []
    if header:
        parts.append(Text(header, style="bold"))
    parts.append(
        Text(f"metrics over {iso(fleet.window_start)} → {iso(fleet.window_end)} (complete windows only)", style="dim")
    )
    parts.extend(service_table(service, width) for service in fleet.services)
    return Group(*parts)


def cost_view(month, shown: set[str], status, header: str) -> Group:
    """`vinconsole cost`: the month so far per service, then the fleet against its budget."""
    table = Table(title=header, title_justify="left", expand=False)
    table.add_column("service")
    table.add_column("month to date", justify="right")
    table.add_column("share", justify="right")
    for key, amount in sorted(month.per_service.items(), key=lambda item: -item[1]):
        if key in shown:
            share = amount / month.total if month.total else None
            table.add_row(key, usd(amount, 2), "—" if share is None else f"{share:.0%}")
    style = {"over": "bold red", "alert": "yellow"}.get(status.level, "green")
    return Group(table, Text(status.summary(), style=style))
