"""The fleet: one row per service × environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding

from console.saturation import COLD_START_WARNING
from widgets.format import (
    error_brief,
    health_text,
    ms,
    pct,
    rate,
    rollout_text,
    service_name,
    split_text,
    trend,
    usd,
    with_trend,
)
from widgets.keyed_table import KeyedTable, fits_width
from widgets.palette import BAD
from widgets.summary import summarize


class FleetTable(KeyedTable):
    """`show(services, previous, month_to_date, ...)`; row keys are 'env/service'."""

    COLUMNS = ("health", "env/service", "serving", "rollout", "req/s", "5xx", "p95", "cost/h", "month")
    #: under NARROW_BELOW cells the full row would scroll sideways: rows take two lines instead
    #: (env over service, one serving revision per line, rollout percent over its bake clock, cost
    #: per hour over the month so far) and the health symbol goes without its word
    NARROW_COLUMNS = ("", "env/service", "serving", "rollout", "req/s", "5xx", "p95", "cost")
    NARROW_BELOW = 124
    DEFAULT_CSS = """
    FleetTable { height: auto; max-height: 100%; }
    """
    BINDINGS = [Binding("enter", "select_cursor", "open", id="open")]
    #: `[analysis] cold_start_warning_percent` as a fraction (the screen sets it): over it, the health says so
    cold_start_warning: float = COLD_START_WARNING

    @fits_width
    def show(
        self,
        services: Sequence[Any],
        previous: Mapping[str, Any],
        month_to_date: Mapping[str, float],
        *,
        now: float,
        paces: Mapping[str, tuple[float, float]],
        filter_text: str = "",
    ) -> None:
        narrow = self.narrow
        selected = self.selected_key
        self.clear()
        needle = filter_text.lower()
        for service in services:
            key = f"{service.env}/{service.service}"
            if needle and needle not in key.lower():
                continue
            now_sum = summarize(service, self.cold_start_warning)
            old = previous.get(key)
            old_sum = summarize(old, self.cold_start_warning) if old is not None else None
            if service.error:
                serving: Text | str = Text("✖ " + error_brief(service.error, 30 if narrow else 60), style=BAD)
            else:
                serving = split_text(now_sum.split, service.service, separator="\n" if narrow else " · ")
            health = health_text(now_sum.health, "ok" if now_sum.health == "ok" else now_sum.health_word, symbol_only=narrow)
            month = usd(month_to_date.get(key), 2) if key in month_to_date else "—"
            self.add_cells({
                "health": health,
                "": health,
                "env/service": service_name(service.env, service.service, service.production, two_lines=narrow),
                "serving": serving,
                "rollout": rollout_text(service.rollout, now, *paces[key], short=narrow),
                "req/s": with_trend(rate(now_sum.request_rate), trend(now_sum.request_rate, old_sum.request_rate if old_sum else None), bad_when_up=False),
                "5xx": with_trend(
                    pct(now_sum.error_rate),
                    trend(now_sum.error_rate, old_sum.error_rate if old_sum else None, relative=0.25, absolute=0.002),
                ),
                "p95": with_trend(ms(now_sum.p95_ms), trend(now_sum.p95_ms, old_sum.p95_ms if old_sum else None, relative=0.15)),
                "cost/h": usd(now_sum.cost_per_hour),
                "month": month,
                # narrow: per hour over the month so far, in one cell
                "cost": Text(f"{usd(now_sum.cost_per_hour)}/h\n") + Text(f"{month} month", style="dim"),
            }, key=key)
        if selected is not None:
            self.select_key(selected)
