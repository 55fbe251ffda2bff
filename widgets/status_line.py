"""One line at the bottom of every view: where the data comes from, how old it is, what failed."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from widgets.format import age
from widgets.palette import ACTIVE, ALARM, BAD, BADGE, OK, WARN


class StatusLine(Widget):
    """`data_age` in seconds (None: not read yet), `error` the last API error (None: fine)."""

    DEFAULT_CSS = """
    StatusLine { height: auto; max-height: 5; padding: 0 1; background: $panel; }
    """

    data_age: reactive[float | None] = reactive(None)
    error: reactive[str | None] = reactive(None, layout=True)  # an error may take more lines
    busy: reactive[str] = reactive("")
    source: reactive[str] = reactive("")
    calls: reactive[int | None] = reactive(None)
    read_only: reactive[bool] = reactive(False)
    retry_in: reactive[float | None] = reactive(None)

    def render(self) -> Text:
        """Age first and the error last; one line, except that an error wraps (up to 5 lines) so
        that its advice (which role, which setting) is never cut off at the edge."""
        out = Text(no_wrap=not self.error, overflow="ellipsis")
        if self.read_only:
            out.append("READ-ONLY ", style=BADGE)
            out.append(" ")
        if self.data_age is None:
            out.append("no data yet" if self.error else "… reading", style=WARN)
        else:
            stale = self.data_age > 30
            out.append(("▲ " if stale else "● ") + f"data {age(self.data_age)} old", style=WARN if stale else OK)
        if self.calls is not None:
            out.append(f"  {self.calls} API calls/refresh", style="dim")
        if self.busy:
            out.append("  ◆ " + self.busy, style=ACTIVE)
        if self.source:
            out.append("  " + self.source, style="dim")
        if self.error:
            out.append("  ✖ API error", style=ALARM)
            if self.retry_in is not None:
                retry = f"retrying in {self.retry_in:.0f}s" if self.retry_in >= 0.5 else "retrying now"
                out.append(f" ({retry})", style=BAD)
            out.append(": " + self.error, style=BAD)
        return out
