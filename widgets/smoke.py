"""Smoke check results: one line per check with status, latency and error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from widgets.format import ms
from widgets.palette import ALARM, OK


class SmokeResults(Static):
    """`show(results)`: dicts with name, ok, status, latency_ms, error (SmokeResult.to_json())."""

    DEFAULT_CSS = """
    SmokeResults { height: auto; padding: 0 1; border: round $primary-darken-2; }
    SmokeResults.failed { border: round $error; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.border_title = "smoke checks"
        self.results: list[Mapping[str, Any]] = []

    def show(self, results: Sequence[Mapping[str, Any]], headline: str = "") -> None:
        self.results = list(results)
        self.set_class(any(not r.get("ok") for r in results), "failed")
        if not results:
            self.update(Text(headline or "not run yet — press t", style="dim"))
            return
        table = Table.grid(padding=(0, 1))
        for _ in range(4):
            table.add_column()
        for r in results:
            mark = Text("✔ ok", style=OK) if r.get("ok") else Text("✖ FAILED", style=ALARM)
            status = r.get("status")
            table.add_row(mark, str(r.get("name")), f"HTTP {status}" if status else "no answer",
                          ms(r.get("latency_ms")) + (f"  {r.get('error')}" if r.get("error") else ""))
        self.update(Group(Text(headline, style="dim"), table) if headline else table)
