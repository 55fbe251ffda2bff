"""The incident view's ranked list: one row per service × environment, most severe first.

Draws what it is given (console.incident.ServiceIncident rows, duck-typed): the alert as symbol +
word + colour, burn rates over 5 min / 1 h / 6 h, 5xx % against the service's own trailing-day
baseline, p95 against the latency target, and since when the errors began.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text

from console.units import utc_time
from widgets.format import age, error_brief, ms, pct, service_name, split_text, trend, with_trend
from widgets.keyed_table import KeyedTable, fits_width
from widgets.palette import ALARM, BAD, OK, WARN

#: alert level → (symbol, style, word); the symbol carries the meaning, the colour helps.
LEVEL = {
    "page": ("✖", ALARM, "page"),
    "ticket": ("▲", WARN, "ticket"),
    "ok": ("●", OK, "ok"),
}
PAGE_BURN = 14.4
TICKET_BURN = 6.0


def level_text(level: str) -> Text:
    symbol, style, word = LEVEL.get(level, ("?", "dim", level))
    return Text(f"{symbol} {word}", style=style)


def burn_text(rate: float | None, page: float = PAGE_BURN, ticket: float = TICKET_BURN) -> Text:
    """'✖ 58.8×' over the page rate, '▲ 7.1×' over the ticket rate, '0.6×' below; '—' without requests."""
    if rate is None:
        return Text("—", style="dim")
    if rate >= page:
        return Text(f"✖ {rate:.1f}×", style=ALARM)
    if rate >= ticket:
        return Text(f"▲ {rate:.1f}×", style=WARN)
    return Text(f"{rate:.1f}×")


def errors_text(now: float | None, baseline: float | None, separator: str = " ") -> Text:
    """'5.88 % ↑ (0.40 %)': the 5xx rate now against its own trailing-day baseline."""
    if now is None:
        return Text("—", style="dim")
    mark = trend(now, baseline, relative=1.0, absolute=0.005)  # more than double and +0.5 pp
    out = with_trend(pct(now), mark)
    if mark:
        out.stylize(ALARM, 0, len(pct(now)))
    out.append(f"{separator}({pct(baseline)})", style="dim")
    return out


def now_text(row: Any, stream: tuple[float, float] | None, old: float | None, separator: str = " ") -> Text:
    """The '5xx now' cell: the request log's last minute when it flows (`stream`: fraction, data age s),
    else Monitoring's 5 minutes; the source and age follow the baseline, the trend compares with the
    previous figure of the same source (`old`)."""
    rate, source = (stream[0], f"log {age(stream[1])}") if stream is not None else (row.error_rate, "5 min")
    out = errors_text(rate, row.baseline_error_rate, separator)
    moved = trend(rate, old, relative=0.25, absolute=0.002) if old is not None and rate is not None else ""
    if moved:
        out.append(" " + moved, style=BAD if moved == "↑" else OK)
    out.append(f" {source}", style="dim")
    return out


def latency_text(p95: float | None, target_ms: float | None, separator: str = " ") -> Text:
    if p95 is None:
        return Text("—", style="dim")
    over = target_ms is not None and p95 > target_ms
    out = Text(("✖ " if over else "") + ms(p95), style=ALARM if over else "")
    if target_ms is not None:
        out.append(f"{separator}/ {ms(target_ms)}", style="dim")
    return out


def since_text(since: float | None, now: float, separator: str = " ") -> Text:
    if since is None:
        return Text("—", style="dim")
    clock = utc_time(since)
    return Text(f"{clock}{separator}({age(now - since)} ago)", style="bold")


class IncidentTable(KeyedTable):
    """`show(rows, now, previous)`; row keys are 'env/service'."""

    COLUMNS = ("alert", "env/service", "since", "5xx now (day baseline)", "burn 5m", "burn 1h", "burn 6h", "p95 / target", "serving")
    #: under NARROW_BELOW cells the full row would scroll sideways and hide the 6 h burn and p95:
    #: rows take two lines (env over service, figures over their baselines) and "serving" goes
    #: (the selected service's headline below names what it serves)
    NARROW_COLUMNS = ("alert", "env/service", "since", "5xx (day)", "burn 5m", "burn 1h", "burn 6h", "p95 / target")
    NARROW_BELOW = 146
    DEFAULT_CSS = """
    IncidentTable { height: auto; max-height: 12; }
    """

    @fits_width
    def show(self, rows: Sequence[Any], now: float, previous: Mapping[str, Any] | None = None, selected: str | None = None,
             stream: Mapping[str, tuple[float, float]] | None = None,
             previous_stream: Mapping[str, tuple[float, float]] | None = None) -> None:
        """`stream` (and the previous read's `previous_stream`): key → (5xx fraction over the request
        log's last minute, its data age in s) for the services whose request log flows."""
        keep = selected or self.selected_key
        previous, stream, previous_stream = previous or {}, stream or {}, previous_stream or {}
        narrow = self.narrow
        separator = "\n" if narrow else " "
        self.clear()
        for row in rows:
            key = row.key
            name = service_name(row.env, row.service, row.production, two_lines=narrow)
            if row.error:
                brief = error_brief(row.error, 24 if narrow else 70)
                error = Text("✖ " + (brief.replace(": ", ":\n", 1) if narrow else brief), style=BAD)
                # the error where the row has room: under "serving", or narrow (no serving) under 5xx
                self.add_cells({"alert": Text("? unreadable", style=WARN), "env/service": name,
                                "5xx (day)": error, "serving": error}, key=key)
                continue
            figure = stream.get(key)
            old_row, old_figure = previous.get(key), previous_stream.get(key)
            old = (old_figure[0] if old_figure is not None else None) if figure is not None else \
                (old_row.error_rate if old_row is not None else None)
            errors = now_text(row, figure, old, separator)
            self.add_cells({
                "alert": level_text(row.level),
                "env/service": name,
                "since": since_text(row.since, now, separator),
                "5xx now (day baseline)": errors,
                "5xx (day)": errors,
                "burn 5m": burn_text(row.burn("5m")),
                "burn 1h": burn_text(row.burn("1h")),
                "burn 6h": burn_text(row.burn("6h")),
                "p95 / target": latency_text(row.p95_ms, getattr(row.targets, "latency_ms", None), separator),
                "serving": split_text(row.serving, row.service),
            }, key=key)
        if keep is not None:
            self.select_key(keep)
