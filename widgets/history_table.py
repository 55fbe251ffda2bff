"""Every rollout from the audit log, newest first, and the selected rollout's steps with their verdicts.

Draws console.history.Rollout objects (duck-typed).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from console.units import minutes
from widgets.format import short_revision
from widgets.keyed_table import KeyedTable, fits_width
from widgets.palette import ACTIVE, ALARM, BAD, CHANGE, OK, WARN

OUTCOME = {
    "promoted": ("✔ promoted", OK),
    "rolled_back": ("↺ rolled back", ALARM),
    "aborted": ("■ aborted", WARN),
    "in_progress": ("◆ in progress", ACTIVE),
}
VERDICT = {"pass": ("✔", OK), "fail": ("✖", ALARM), "inconclusive": ("?", WARN)}


def when(at: float | None) -> str:
    return "—" if at is None else datetime.fromtimestamp(at, UTC).strftime("%m-%d %H:%M")


def ended_text(started: float, ended: float | None) -> str:
    """'09:18' when the rollout ended the day it started (most do), else the date too."""
    if ended is not None and when(ended)[:5] == when(started)[:5]:
        return when(ended)[6:]
    return when(ended)


def outcome_text(rollout: Any) -> Text:
    if rollout.kind == "rollback":
        return Text("↶ operator rollback", style=ALARM)
    word, style = OUTCOME.get(rollout.outcome, (rollout.outcome, ""))
    out = Text(word, style=style)
    if rollout.outcome == "promoted" and rollout.reverted is not None:
        out.append(" ↶ reverted", style=BAD)
    return out


def steps_text(rollout: Any) -> Text:
    out = Text()
    for i, step in enumerate(rollout.steps):
        if i:
            out.append(" ")
        out.append(f"{step.percent}%")
        if step.verdict:
            symbol, style = VERDICT.get(step.verdict, ("?", WARN))
            out.append(symbol, style=style)
    if rollout.why and rollout.outcome != "promoted":
        out.append(f" ({rollout.why})", style="dim")
    return out


def driver_text(rollout: Any) -> Text:
    kind = rollout.driver_kind
    out = Text("CI " if kind == "ci" else "op " if kind == "operator" else "? ", style=ACTIVE if kind == "ci" else CHANGE)
    out.append(rollout.driver_name or rollout.driver)
    return out


def matches(rollout: Any, needle: str) -> bool:
    if not needle:
        return True
    hay = " ".join(str(x) for x in (rollout.key, rollout.candidate, rollout.stable, rollout.driver, rollout.outcome,
                                     rollout.kind, rollout.why or "", "ci" if rollout.driver_kind == "ci" else "operator"))
    return needle.lower() in hay.lower()


def rollout_key(rollout: Any) -> str:
    return f"{rollout.key}@{rollout.started}@{rollout.id or rollout.kind}"


class RolloutsTable(KeyedTable):
    """`show(rollouts, filter_text)`: newest first."""

    COLUMNS = ("started (UTC)", "env/service", "candidate", "stable", "driver", "outcome", "steps", "ended", "lead", "restore")
    #: under NARROW_BELOW cells the full row would scroll sideways: stable, driver, steps and ended go
    #: (the selected rollout's panel below names the stable revision, the driver and every step)
    NARROW_COLUMNS = ("started (UTC)", "env/service", "candidate", "outcome", "lead", "restore")
    NARROW_BELOW = 150
    DEFAULT_CSS = """
    RolloutsTable { height: 1fr; min-height: 6; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.rollouts: dict[str, Any] = {}

    @fits_width
    def show(self, rollouts: Sequence[Any], filter_text: str = "") -> int:
        keep = self.selected_key
        self.clear()
        self.rollouts = {}
        for r in sorted(rollouts, key=lambda r: r.started, reverse=True):
            if not matches(r, filter_text):
                continue
            key = rollout_key(r)
            if key in self.rollouts:
                continue
            self.rollouts[key] = r
            cells = {
                "started (UTC)": when(r.started), "env/service": r.key,
                "candidate": short_revision(r.candidate or "—", r.service), "stable": short_revision(r.stable or "—", r.service),
                "driver": driver_text(r), "outcome": outcome_text(r), "steps": steps_text(r), "ended": ended_text(r.started, r.ended),
                "lead": minutes(r.lead_time_minutes), "restore": minutes(r.time_to_restore_minutes),
            }
            self.add_cells(cells, key=key)
        if keep is not None:
            self.select_key(keep)
        return len(self.rollouts)

    @property
    def selected(self) -> Any | None:
        key = self.selected_key
        return self.rollouts.get(key) if key else None


class RolloutDetail(Static):
    """The selected rollout: who drove it, each step with its verdict and reasons."""

    DEFAULT_CSS = """
    RolloutDetail { height: auto; max-height: 10; border: round $primary-darken-2; padding: 0 1; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__("", **kwargs)
        self.border_title = "selected rollout"

    def show(self, r: Any | None) -> None:
        if r is None:
            self.update(Text("no rollout selected", style="dim"))
            return
        head = Text(f"{r.key}  ", style="bold")
        head.append_text(outcome_text(r))
        head.append(f"  {short_revision(r.candidate or '—', r.service)} vs stable {short_revision(r.stable or '—', r.service)}")
        head.append(f"  driven by {r.driver}", style="dim")
        if r.ended_by and r.ended_by != r.driver:
            head.append(f", ended by {r.ended_by}", style="dim")
        table = Table.grid(padding=(0, 1))
        table.add_column(justify="right")
        table.add_column()
        table.add_column()
        table.add_column(ratio=1)
        for step in r.steps:
            symbol, style = VERDICT.get(step.verdict or "", ("·", "dim"))
            word = step.verdict or "no verdict"
            table.add_row(f"{step.percent} %", when(step.at), Text(f"{symbol} {word}", style=style),
                          Text("; ".join(step.reasons), overflow="ellipsis", no_wrap=True))
        parts: list[Any] = [head]
        if r.steps:
            parts.append(table)
        if r.reasons:
            parts.append(Text("why: " + "; ".join(r.reasons), style="dim", overflow="ellipsis", no_wrap=True))
        self.update(Group(*parts))
