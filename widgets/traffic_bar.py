"""A horizontal bar of the traffic split, one coloured and labelled segment per revision."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from widgets.format import short_revision
from widgets.palette import ACTIVE, CHANGE, OK, WARN

# Stable first, candidate second; patterns differ so the split reads without colour too.
SEGMENT_STYLES = (("█", OK), ("▓", ACTIVE), ("▒", CHANGE), ("░", WARN))


class TrafficBar(Widget):
    """Draws `split` (revision → percent); `roles` names revisions 'stable' / 'candidate'."""

    DEFAULT_CSS = """
    TrafficBar { height: 2; padding: 0 1; }
    """

    split: reactive[dict[str, int]] = reactive(dict, layout=False)

    def __init__(self, service: str = "", *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.service = service
        self.roles: dict[str, str] = {}

    def show(self, split: Mapping[str, int], roles: Mapping[str, str] | None = None) -> None:
        self.roles = dict(roles or {})
        self.split = dict(split)

    def _ordered(self) -> list[tuple[str, int]]:
        def rank(item: tuple[str, int]) -> tuple[int, int, str]:
            role = self.roles.get(item[0], "")
            return ({"stable": 0, "candidate": 1}.get(role, 2), -item[1], item[0])

        return sorted(((r, p) for r, p in self.split.items() if p > 0), key=rank)

    def render(self) -> Text:
        width = max(10, self.size.width)
        ordered = self._ordered()
        if not ordered:
            return Text("no traffic", style="dim")
        bar = Text()
        used = 0
        for index, (_revision, percent) in enumerate(ordered):
            char, style = SEGMENT_STYLES[min(index, len(SEGMENT_STYLES) - 1)]
            cells = round(width * percent / 100) if index < len(ordered) - 1 else width - used
            cells = max(1, min(cells, width - used))
            bar.append(char * cells, style=style)
            used += cells
        legend = Text()
        for index, (revision, percent) in enumerate(ordered):
            char, style = SEGMENT_STYLES[min(index, len(SEGMENT_STYLES) - 1)]
            if index:
                legend.append("   ")
            legend.append(char * 2 + " ", style=style)
            role = self.roles.get(revision)
            legend.append(f"{short_revision(revision, self.service)} {percent} %", style="bold")
            if role:
                legend.append(f" ({role})", style="dim")
        return Text("\n").join([bar, legend])
