"""Release history: every rollout from the audit log (filterable with /) and the DORA figures per
service and overall, each beside the team's target. Span: 7 d / 30 d / 90 d (7, 3, 9 or [ ]).

One read worker (console.history.read_history: one paged ListLogEntries per project); the next read
waits for the one in flight. Errors go to the status line and are retried.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from screens.bindings import HINT_PRIORITY, HISTORY_BINDINGS
from screens.live import LiveScreen
from widgets.dora import DoraPanel, lead_time_note
from widgets.filter_box import FilterBox
from widgets.history_table import RolloutDetail, RolloutsTable
from widgets.key_hints import KeyHints
from widgets.palette import WARN
from widgets.status_line import StatusLine

SPANS = {"7d": 7 * 86400.0, "30d": 30 * 86400.0, "90d": 90 * 86400.0}
ORDER = ("7d", "30d", "90d")
MIN_REFRESH_SECONDS = 30.0  # the audit log changes slowly; ctrl+r reads now


class HistoryScreen(LiveScreen):
    BINDINGS = HISTORY_BINDINGS
    HELP_TITLE = "history"
    PALETTE_ACTIONS = ("since_7d", "since_30d", "since_90d", "filter", "back", "refresh")
    PALETTE_PREFIX = "history: "
    def __init__(self, span: str = "30d") -> None:
        super().__init__()
        self.span = span
        self.filter_text = ""
        self.history: Any = None

    def compose(self) -> ComposeResult:
        yield Static(self.vapp.banner, classes="banner")
        yield FilterBox(placeholder="filter rollouts: service, revision, driver, outcome; enter keep, esc clear", id="filter")
        with Vertical(id="body"):
            yield Static("", id="summary")
            yield RolloutsTable(id="rollouts")
            yield RolloutDetail(id="detail")
            yield DoraPanel(id="dora")
        yield StatusLine(id="status")
        yield KeyHints(HINT_PRIORITY)

    def on_mount(self) -> None:
        self.query_one(StatusLine).source = "audit log"
        self.query_one(DoraPanel).show_message("reading the audit log…")
        self.query_one(RolloutDetail).show(None)
        self.query_one(RolloutsTable).focus()
        self._draw_summary()
        self.start_reading()

    # ------------------------------------------------------------------ reading

    def read(self) -> tuple[str, Any]:
        from console.history import read_history

        app = self.vapp
        span = self.span
        until = app.clock.now()
        return span, read_history(app.config, app.view_clients, app.targets, until - SPANS[span], until)

    def apply(self, data: tuple[str, Any]) -> None:
        span, history = data
        self.query_one(StatusLine).calls = len({t.project for t in self.vapp.targets})
        if span == self.span:
            self.history = history
            self.mark_fresh()
            self._draw()
        else:
            self._again = True  # the operator switched span while we read: read the one shown now

    def next_delay(self) -> float | None:
        base = self.vapp.refresh_seconds
        return None if base is None else max(base, MIN_REFRESH_SECONDS)

    # ------------------------------------------------------------------ drawing

    def _draw_summary(self, shown: int | None = None) -> None:
        text = Text(f"history — last {self.span}", style="bold")
        text.append("  (7 / 3 / 9 switch 7 d / 30 d / 90 d)", style="dim")
        if self.history is not None:
            total = len(self.history.rollouts)
            text.append(f"  {total} rollouts and rollbacks")
            if self.filter_text:
                text.append(f", {shown} match “{self.filter_text}”", style=WARN)
        elif self._loading or self.history is None:
            text.append("  reading…", style=WARN)
        self.query_one("#summary", Static).update(text)

    def _draw(self) -> None:
        history = self.history
        if history is None:
            return
        table = self.query_one(RolloutsTable)
        shown = table.show(history.rollouts, self.filter_text)
        self.query_one(RolloutDetail).show(table.selected)
        config = self.vapp.config
        on_monitoring = config.analysis.source == "monitoring"  # else the request log while it flows
        paces = {env: (len(pace.steps), pace.bake_seconds if on_monitoring else pace.logs_bake_seconds)
                 for env in config.environments for pace in [config.rollout_for(env)]}
        note = lead_time_note(paces, history.targets.lead_time_minutes)
        self.query_one(DoraPanel).show(history.overall, history.services, history.targets, self.span, note)
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

    def action_filter(self) -> None:
        self.query_one(FilterBox).open(self.filter_text)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._draw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(RolloutsTable).focus()

    def action_back(self) -> None:
        if self.query_one(FilterBox).clear_filter():
            self.query_one(RolloutsTable).focus()
            return
        if len(self.vapp.screen_stack) > 2:
            self.vapp.pop_screen()
