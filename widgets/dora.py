"""The DORA figures per service and overall, each beside the team's target, marked met / not met.

Draws console.history.Dora objects and DoraTargets (duck-typed): ✔ met (green), ✖ not met (red),
? no data (dim) — symbol plus colour, never colour alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console.units import minutes
from widgets.palette import ALARM, OK


def judged(value: float | None, met: bool | None, text: str) -> Text:
    if value is None or met is None:
        return Text("? no data", style="dim")
    return Text(("✔ " if met else "✖ ") + text, style=OK if met else ALARM)


def figures_row(name: str, figures: Any, targets: Any) -> list[Any]:
    meets = figures.meets(targets)
    per_week = figures.deployments_per_week
    return [
        name,
        Text("—" if per_week is None else f"{per_week:.1f}", style="" if per_week is not None else "dim"),
        judged(figures.lead_time_minutes_median, meets["lead_time_minutes_median"], minutes(figures.lead_time_minutes_median)),
        judged(figures.change_failure_rate, meets["change_failure_rate"],
               "—" if figures.change_failure_rate is None else f"{figures.change_failure_rate:.1%} ({figures.failures}/{figures.changes})"),
        judged(figures.time_to_restore_minutes_median, meets["time_to_restore_minutes_median"],
               minutes(figures.time_to_restore_minutes_median) + (f" (n={figures.restores})" if figures.restores else "")),
    ]


def dora_table(overall: Any, services: Mapping[str, Any], targets: Any, span: str = "", lead_time_note: str = "") -> Table:
    table = Table(expand=True, box=None, padding=(0, 1), header_style="bold")
    if lead_time_note:
        table.caption = Text(lead_time_note, style="dim")
        table.caption_justify = "left"
    table.add_column("DORA" + (f" — last {span}" if span else ""), no_wrap=True)
    table.add_column("deploys / week", justify="right")
    table.add_column(f"lead time (target < {targets.lead_time_minutes:g} min)", justify="right")
    table.add_column(f"change failure rate (target < {targets.change_failure_rate:.0%})", justify="right")
    table.add_column(f"time to restore (target < {targets.time_to_restore_minutes:g} min)", justify="right")
    for key in sorted(services):
        table.add_row(*figures_row(key, services[key], targets))
    row = figures_row("overall", overall, targets)
    row[0] = Text("overall", style="bold")
    table.add_row(*row)
    return table


class DoraPanel(Static):
    DEFAULT_CSS = """
    DoraPanel { height: auto; border: round $primary-darken-2; padding: 0 1; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__("", **kwargs)
        self.border_title = "DORA figures beside the team's targets (✔ met · ✖ not met · ? no data)"
        self.figures: Any = None

    def show(self, overall: Any, services: Mapping[str, Any], targets: Any, span: str = "",
             lead_time_note: str = "") -> None:
        """`lead_time_note`: what bounds the lead time (the rollout pace), said under the table."""
        self.figures = overall
        self.update(Group(dora_table(overall, services, targets, span, lead_time_note)))

    def show_message(self, message: str) -> None:
        self.update(Text(message, style="dim"))


def lead_time_note(paces: Mapping[str, tuple[int, float]], target_minutes: float) -> str:
    """What bounds the lead time (revision created → serving 100 %): each step below 100 % bakes at
    least its minimum before the next, so the pace alone takes (steps − 1) × bake. `paces`: environment
    → (number of steps, minimum bake in seconds)."""
    if not paces:
        return ""
    floors = {env: (steps - 1) * bake / 60 for env, (steps, bake) in paces.items()}
    parts = ", ".join(f"{env} ≥ {floor:g} min ({paces[env][0] - 1} × {paces[env][1] / 60:g} min bakes)"
                      for env, floor in floors.items())
    note = f"lead time = revision created → serving 100 %, bounded below by the rollout pace: {parts}"
    if min(floors.values()) >= target_minutes:
        note += f"; the < {target_minutes:g} min target needs fewer steps or shorter bakes ([rollout] in config.toml)"
    return note
