"""The fleet: one row per service × environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding

from widgets.format import health_text, ms, pct, rate, rollout_text, split_text, trend, usd, with_trend
from widgets.keyed_table import KeyedTable
from widgets.summary import summarize


class FleetTable(KeyedTable):
    """`show(services, previous, month_to_date, ...)`; row keys are 'env/service'."""

    COLUMNS = ("health", "env/service", "serving", "rollout", "req/s", "5xx", "p95", "cost/h", "month")
    DEFAULT_CSS = """
    FleetTable { height: auto; max-height: 100%; }
    """
    BINDINGS = [Binding("enter", "select_cursor", "open", id="open")]

    def show(
        self,
        services: Sequence[Any],
        previous: Mapping[str, Any],
        month_to_date: Mapping[str, float],
        *,
        now: float,
        bake_seconds: float,
        max_bake_seconds: float,
        filter_text: str = "",
    ) -> None:
        selected = self.selected_key
        self.clear()
        needle = filter_text.lower()
        for service in services:
            key = f"{service.env}/{service.service}"
            if needle and needle not in key.lower():
                continue
            now_sum = summarize(service)
            old = previous.get(key)
            old_sum = summarize(old) if old is not None else None
            if service.error:
                serving: Text | str = Text("✖ " + service.error[:60], style="red")
            else:
                serving = split_text(now_sum.split, service.service)
            self.add_row(
                health_text(now_sum.health, "ok" if now_sum.health == "ok" else now_sum.health_word),
                Text(key) + (Text(" ⚑", style="bold red") if service.production else Text("")),
                serving,
                rollout_text(service.rollout, now, bake_seconds, max_bake_seconds),
                with_trend(rate(now_sum.request_rate), trend(now_sum.request_rate, old_sum and old_sum.request_rate), bad_when_up=False),
                with_trend(
                    pct(now_sum.error_rate),
                    trend(now_sum.error_rate, old_sum and old_sum.error_rate, relative=0.25, absolute=0.002),
                ),
                with_trend(ms(now_sum.p95_ms), trend(now_sum.p95_ms, old_sum and old_sum.p95_ms, relative=0.15)),
                usd(now_sum.cost_per_hour),
                usd(month_to_date.get(key), 2) if key in month_to_date else "—",
                key=key,
            )
        if selected is not None:
            self.select_key(selected)
