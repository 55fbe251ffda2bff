"""The rollout's step history: percent, when, how long, verdict and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from widgets.format import mmss
from widgets.palette import ACTIVE, ALARM, OK, WARN

VERDICT = {"pass": ("✔ pass", OK), "fail": ("✖ fail", ALARM), "inconclusive": ("? inconclusive", WARN)}


@dataclass(frozen=True)
class StepView:
    percent: int
    started: float
    ended: float | None
    verdict: str | None
    reasons: tuple[str, ...] = ()


class StepHistory(Static):
    DEFAULT_CSS = """
    StepHistory { height: auto; padding: 0 1; border: round $primary-darken-2; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self.border_title = "steps"

    def show(self, steps: Sequence[StepView], now: float, headline: str = "") -> None:
        if not steps:
            self.update(Group(Text(headline or "no rollout steps yet", style="dim")))
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right")
        table.add_column()
        table.add_column()
        table.add_column(ratio=1)
        for step in steps:
            word, style = VERDICT.get(step.verdict or "", ("◆ baking", ACTIVE))
            duration = (step.ended if step.ended is not None else now) - step.started
            table.add_row(f"{step.percent} %", mmss(duration), Text(word, style=style), Text(step.reasons[0] if step.reasons else "", overflow="ellipsis", no_wrap=True))
        parts = [Text(headline)] if headline else []
        self.update(Group(*parts, table))
