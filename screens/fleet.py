"""The home screen: every service × environment, live."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from console.cost import budget_status
from console.status import FleetStatus
from screens.bindings import FLEET_BINDINGS, HINT_PRIORITY
from screens.data import MonthToDate
from screens.live import LiveScreen
from screens.modals import JumpTo
from widgets.cost import budget_bar
from widgets.filter_box import FilterBox
from widgets.fleet_table import FleetTable
from widgets.format import usd, window_age
from widgets.key_hints import KeyHints
from widgets.palette import ALARM, OK, WARN
from widgets.status_line import StatusLine


class FleetScreen(LiveScreen):
    BINDINGS = FLEET_BINDINGS
    HELP_TITLE = "fleet"
    PALETTE_ACTIONS = ("open", "incident", "history", "filter", "jump", "refresh")
    PALETTE_PREFIX = "fleet: "
    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.previous: dict = {}
        self.current: FleetStatus | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._banner(), classes="banner", id="banner")
        yield FilterBox(placeholder="filter: part of env/service, enter to keep, esc to clear", id="filter")
        yield FleetTable(id="fleet")
        yield Static("", id="figures-age")
        yield Static("", id="budget")
        yield StatusLine(id="status")
        yield KeyHints(HINT_PRIORITY)

    def _banner(self) -> Text:
        text = Text(self.vapp.banner)
        if self.filter_text:
            text.append(f"   filter: {self.filter_text}", style=WARN)
        return text

    def on_mount(self) -> None:
        table = self.query_one(FleetTable)
        table.cold_start_warning = self.vapp.config.analysis.cold_start_warning_percent / 100
        table.focus()
        self.start_reading()

    # ---------------------------------------------------------------- refresh loop

    def read(self) -> tuple[FleetStatus, MonthToDate | None]:
        app = self.vapp
        fleet = app.data.read(app.targets)
        month = None
        if fleet.services and all(s.error for s in fleet.services):
            return fleet, None  # the API is unreachable: say so now, read the costs next time
        try:
            month = app.month_if_due(fleet)
        except Exception as error:  # noqa: BLE001 - cost is secondary: show it and retry later
            app.call_from_thread(self.notify, f"month-to-date cost not read: {error}", severity="warning")
        return fleet, month

    def apply(self, data: tuple[FleetStatus, MonthToDate | None]) -> str | None:
        fleet, month = data
        app = self.vapp
        if self.current is not None:
            self.previous = {f"{s.env}/{s.service}": s for s in self.current.services}
        self.current = fleet
        app.fleet = fleet
        if month is not None:
            app.month = month
        self.query_one(StatusLine).calls = fleet.api_calls
        if not fleet.services or not all(s.error for s in fleet.services):
            self.mark_fresh()  # nothing read is not fresh data: the age keeps counting
        self._draw()
        return next((s.error for s in fleet.services if s.error), None)

    def _draw(self) -> None:
        app = self.vapp
        if self.current is None:
            return
        month = app.month
        table = self.query_one(FleetTable)
        table.show(
            self.current.services,
            self.previous,
            month.per_service if month else {},
            now=self.current.read_at,
            paces={t.key: (t.rollout.bake_seconds, t.rollout.max_bake_seconds) for t in app.targets},
            filter_text=self.filter_text,
        )
        figures_age = window_age(self.current.window_end, app.clock.now())  # the status line's age is the read's
        self.query_one("#figures-age", Static).update(
            Text(f"req/s, 5xx, p95: Cloud Monitoring, {figures_age}" if figures_age else "", style="dim"))
        budget = app.config.budget
        if month is not None:
            line = Text(
                f"fleet month to date {usd(month.total, 2)} · forecast {usd(month.forecast, 2)} "
                f"({month.forecast_basis}) of budget {usd(budget.monthly_usd, 2)}  "
            )
            bar = budget_bar(month.total, month.forecast, budget.monthly_usd, budget.alert_percents)
            status = budget_status(month.total, month.forecast, budget.monthly_usd, budget.alert_percents, month.forecast_basis)
            share = (month.forecast or month.total) / budget.monthly_usd * 100
            mark = Text(f" {share:.0f} % {status.badge()}", style={"over": ALARM, "alert": WARN}.get(status.level, OK))
            self.query_one("#budget", Static).update(Text.assemble(line, "\n", bar, mark))
        else:
            self.query_one("#budget", Static).update(Text("month to date: reading…" if app.month_enabled else "", style="dim"))

    def resumed(self) -> None:
        if self.vapp.fleet is not None and self.vapp.fleet is not self.current:
            self._loaded((self.vapp.fleet, None))  # the newest snapshot another view read
        else:
            super().resumed()

    def on_screen_suspend(self) -> None:
        self._schedule(None)

    # ------------------------------------------------------------------- actions

    def action_open(self) -> None:
        key = self.query_one(FleetTable).selected_key
        if key:
            self.vapp.open_service(key)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self.vapp.open_service(event.row_key.value)

    def action_filter(self) -> None:
        self.query_one(FilterBox).open(self.filter_text)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.query_one("#banner", Static).update(self._banner())
        self._draw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(FleetTable).focus()

    def set_filter(self, text: str) -> None:
        """Filter without opening the box (`:` jump to an environment); esc clears it as usual."""
        self.query_one(FilterBox).value = text

    def action_back(self) -> None:
        if self.query_one(FilterBox).clear_filter():
            self.query_one(FleetTable).focus()

    def action_incident(self) -> None:
        self.vapp.open_incident()

    def action_history(self) -> None:
        self.vapp.open_history()

    def action_jump(self) -> None:
        self.vapp.push_screen(JumpTo(self.vapp.jump_choices()), self.vapp.jump)
