"""Release history: every rollout from the audit log (filterable with /) and the DORA figures per
service and overall, each beside the team's target. Span: 7 d / 30 d / 90 d (7, 3, 9 or [ ]).

One read worker (console.history.read_history: one paged ListLogEntries per project); the next read
waits for the one in flight. Errors go to the status line and are retried.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input, Static

from screens.bindings import HISTORY_BINDINGS
from widgets.dora import DoraPanel
from widgets.history_table import RolloutDetail, RolloutsTable
from widgets.status_line import StatusLine

ERROR_BACKOFF = (2.0, 5.0, 10.0, 30.0)
SPANS = {"7d": 7 * 86400.0, "30d": 30 * 86400.0, "90d": 90 * 86400.0}
ORDER = ("7d", "30d", "90d")
MIN_REFRESH_SECONDS = 30.0  # the audit log changes slowly; ctrl+r reads now


class HistoryScreen(Screen):
    BINDINGS = HISTORY_BINDINGS
    HELP_TITLE = "history"
    PALETTE_ACTIONS = ("since_7d", "since_30d", "since_90d", "filter", "back", "refresh")
    PALETTE_PREFIX = "history: "
    DEFAULT_CSS = """
    HistoryScreen #body { height: 1fr; }
    HistoryScreen #summary { height: 1; padding: 0 1; }
    """

    def __init__(self, span: str = "30d") -> None:
        super().__init__()
        self.span = span
        self.filter_text = ""
        self.history: Any = None
        self._read_mono: float | None = None
        self._timer: Timer | None = None
        self._failures = 0
        self._loading = False
        self._again = False

    def compose(self) -> ComposeResult:
        yield Static(self.app.banner, classes="banner")
        yield Input(placeholder="filter rollouts: service, revision, driver, outcome; enter keep, esc clear", id="filter", classes="filter")
        with Vertical(id="body"):
            yield Static("", id="summary")
            yield RolloutsTable(id="rollouts")
            yield RolloutDetail(id="detail")
            yield DoraPanel(id="dora")
        yield StatusLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        status = self.query_one(StatusLine)
        status.read_only = self.app.read_only
        status.source = "audit log"
        self.query_one(DoraPanel).show_message("reading the audit log…")
        self.query_one(RolloutDetail).show(None)
        if self.app.ticking:
            self.set_interval(1.0, self._tick)
        self.query_one(RolloutsTable).focus()
        self._draw_summary()
        self.load()

    # ------------------------------------------------------------------ reading

    @work(thread=True, exclusive=True, group="history-refresh")
    def load(self) -> None:
        from console.history import read_history

        app = self.app
        self._loading = True
        span = self.span
        try:
            until = app.clock.now()
            history = read_history(app.config, app.clients, app.targets, until - SPANS[span], until)
            app.call_from_thread(self._apply, span, history)
        except Exception as error:  # noqa: BLE001 - never crash on an API failure: show it, retry
            app.call_from_thread(self._failed, error)
        finally:
            self._loading = False

    def _schedule(self, delay: float | None) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if delay is not None and self.is_attached:
            self._timer = self.set_timer(delay, self._timed)

    def _timed(self) -> None:
        self._timer = None
        if self.is_attached and self.is_current:
            self.load()

    def refresh_soon(self) -> None:
        if self._loading:
            self._again = True
        else:
            self._schedule(0.05)

    def _next(self, delay: float | None) -> None:
        if self._again:
            self._again = False
            self._schedule(0.05)
        else:
            self._schedule(delay)

    def _apply(self, span: str, history: Any) -> None:
        if not self.is_attached:
            return
        status = self.query_one(StatusLine)
        self._failures = 0
        status.error = None
        status.retry_in = None
        status.calls = len({t.project for t in self.app.targets})
        if span == self.span:
            self.history = history
            self._read_mono = time.monotonic()
            status.data_age = 0.0
            self._draw()
        else:
            self._again = True
        base = self.app.refresh_seconds
        self._next(None if base is None else max(base, MIN_REFRESH_SECONDS))

    def _failed(self, error: Exception) -> None:
        if not self.is_attached:
            return
        self._failures += 1
        delay = ERROR_BACKOFF[min(self._failures - 1, len(ERROR_BACKOFF) - 1)]
        status = self.query_one(StatusLine)
        status.error = str(error)
        status.retry_in = delay
        self._next(delay if self.app.refresh_seconds is not None else None)

    def _tick(self) -> None:
        if self._read_mono is not None:
            self.query_one(StatusLine).data_age = time.monotonic() - self._read_mono

    def on_screen_resume(self) -> None:
        if self.history is not None and self._timer is None and not self._loading and self.app.refresh_seconds is not None:
            self.load()

    # ------------------------------------------------------------------ drawing

    def _draw_summary(self, shown: int | None = None) -> None:
        text = Text(f"history — last {self.span}", style="bold")
        text.append("  (7 / 3 / 9 switch 7 d / 30 d / 90 d)", style="dim")
        if self.history is not None:
            total = len(self.history.rollouts)
            text.append(f"  {total} rollouts and rollbacks")
            if self.filter_text:
                text.append(f", {shown} match “{self.filter_text}”", style="yellow")
        elif self._loading or self.history is None:
            text.append("  reading…", style="yellow")
        self.query_one("#summary", Static).update(text)

    def _draw(self) -> None:
        history = self.history
        if history is None:
            return
        table = self.query_one(RolloutsTable)
        shown = table.show(history.rollouts, self.filter_text)
        self.query_one(RolloutDetail).show(table.selected)
        self.query_one(DoraPanel).show(history.overall, history.services, history.targets, self.span)
        self._draw_summary(shown)

    @on(DataTable.RowHighlighted, "#rollouts")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.query_one(RolloutDetail).show(self.query_one(RolloutsTable).selected)

    # ------------------------------------------------------------------ actions

    def _set_span(self, span: str) -> None:
        if span == self.span:
            return
        self.span = span
        self.query_one(DoraPanel).show_message(f"reading the last {span}…")
        self._draw_summary()
        self.refresh_soon()

    def action_since_7d(self) -> None:
        self._set_span("7d")

    def action_since_30d(self) -> None:
        self._set_span("30d")

    def action_since_90d(self) -> None:
        self._set_span("90d")

    def action_span_shorter(self) -> None:
        self._set_span(ORDER[max(0, ORDER.index(self.span) - 1)])

    def action_span_longer(self) -> None:
        self._set_span(ORDER[min(len(ORDER) - 1, ORDER.index(self.span) + 1)])

    def action_refresh(self) -> None:
        self.refresh_soon()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._draw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.input.remove_class("shown")
        self.query_one(RolloutsTable).focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("shown") or self.filter_text:
            box.value = ""
            self.filter_text = ""
            box.remove_class("shown")
            self.query_one(RolloutsTable).focus()
            self._draw()
            return
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
