"""Error log entries grouped by signature: count, first and last seen, which revisions, the message.

Draws console.signatures.ErrorGroup objects (duck-typed). Groups the live tail bumped since the
last full read are marked ↑ beside their count.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from rich.text import Text

from console.units import utc_time
from widgets.format import age, short_revision
from widgets.keyed_table import KeyedTable
from widgets.palette import BAD


def clock_text(at: float, now: float) -> str:
    return f"{utc_time(at, seconds=True)} ({age(now - at)} ago)"


def revisions_text(revisions: dict[str, int], service: str = "") -> str:
    ordered = sorted(revisions.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{short_revision(rev, service)} ×{n}" for rev, n in ordered)


class ErrorGroupsTable(KeyedTable):
    """`show(groups, now, service, bumped)`; row keys are the signatures."""

    COLUMNS = ("count", "first seen", "last seen", "revisions", "message")
    DEFAULT_CSS = """
    ErrorGroupsTable { height: auto; max-height: 14; }
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.groups: list[Any] = []

    def show(self, groups: Sequence[Any], now: float, service: str = "", bumped: Collection[str] = ()) -> None:
        keep = self.selected_key
        self.groups = list(groups)
        self.clear()
        for group in self.groups:
            count = Text(f"{group.count:>6}", style="bold")
            count.append(" ↑" if group.signature in bumped else "  ", style=BAD)
            self.add_row(
                count,
                clock_text(group.first_seen, now),
                clock_text(group.last_seen, now),
                revisions_text(group.revisions, service),
                Text(group.message, style=BAD if group.signature in bumped else ""),
                key=group.signature,
            )
        if keep is not None:
            self.select_key(keep)

    @property
    def selected_group(self) -> Any | None:
        key = self.selected_key
        return next((g for g in self.groups if g.signature == key), None)
