"""One service in one environment: revisions, traffic, stable vs candidate, the judge, and the actions."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.notifications import SeverityLevel
from textual.widgets import Input, RichLog, Static

from console.audit import AuditBacklog
from console.config import Target
from console.cost import budget_status
from console.errors import ApiError
from console.model import ROLLOUT_ANNOTATION
from console.requestlog import RecentTraffic
from console.rollout.events import Event
from console.rollout.outcomes import EventKind
from console.state import RolloutState, read_rollout
from console.status import FleetStatus, ServiceStatus
from screens.bindings import HINT_PRIORITY, SERVICE_BINDINGS, TRAFFIC_ACTIONS
from screens.data import Series
from screens.engine_messages import (
    AuditNotWritten,
    EngineError,
    EngineEvent,
    Held,
    Judged,
    Promoted,
    RolledBack,
    RolloutMoved,
    SmokeChecked,
    Stopped,
    engine_message,
)
from screens.live import LiveScreen
from screens.modals import ChooseRevision, ConfirmTraffic, JumpTo, SplitInput
from screens.verdicts import steps_of, view_from_event, view_from_state
from widgets.cost import CostPanel, CostRow, CostView
from widgets.filter_box import FilterBox
from widgets.format import rollout_text, short_revision, utc_time, window_age
from widgets.history import StepHistory
from widgets.key_hints import KeyHints
from widgets.palette import ACTIVE, ALARM, BAD, OK, WARN, WARN_STRONG
from widgets.revisions_table import RevisionsTable
from widgets.smoke import SmokeResults
from widgets.sparks import CompareSparks, SeriesView
from widgets.status_line import StatusLine
from widgets.traffic_bar import TrafficBar
from widgets.verdict import VerdictPanel, VerdictView

if TYPE_CHECKING:
    from console.engine import Engine

ACTION_REFRESH_SECONDS = 1.0  # refresh faster while an action runs or a rollout is live


class ServiceScreen(LiveScreen):
    BINDINGS = SERVICE_BINDINGS
    HELP_TITLE = "service"
    PALETTE_ACTIONS = ("step", "split", "smoke", "auto", "pause", "promote", "rollback", "filter", "jump", "back", "refresh")
    PALETTE_PREFIX = "service: "

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.production = target.environment.production
        self.current: ServiceStatus | None = None
        self.previous: ServiceStatus | None = None
        self.series: Series | None = None
        self.recent: RecentTraffic | None = None  # the request log's last minutes, during a rollout
        self.window_end: float | None = None  # the status figures are over complete windows ending here
        self.filter_text = ""
        self.live_verdict: tuple[str | None, VerdictView] | None = None  # (rollout id, verdict) from our engine
        self.smoke: list[dict] = []
        self.smoke_headline = ""
        self.busy = ""  # the action this screen's engine is running
        self.auto_running = False
        self.last_outcome: Any = None  # the engine's last Outcome: what quitting prints about this service
        self.stop = threading.Event()
        self.after_auto: Callable[[], None] | None = None  # what runs once this console's rollout has paused
        self.audit_backlog = AuditBacklog()  # audit entries this screen's engines could not write yet
        self.held = False  # the last rollout this screen drove was paused (its hold event came)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(self.vapp.banner, classes="banner")
        yield FilterBox(placeholder="filter revisions: name, image or tag; enter keep, esc clear", id="filter")
        with VerticalScroll(id="body"):
            yield Static("", id="title")
            yield TrafficBar(self.target.service, id="traffic")
            yield RevisionsTable(id="revisions")
            yield Static("", id="revisions-age")
            yield CompareSparks(self.target.service, id="sparks")
            with Horizontal(id="lower"):
                with Vertical(id="left"):
                    yield VerdictPanel(id="verdict")
                    yield StepHistory(id="history")
                    yield RichLog(id="events", max_lines=200, wrap=True, markup=False)  # an event is read whole
                with Vertical(id="right"):
                    yield SmokeResults(id="smoke")
                    yield CostPanel(id="cost")
        yield StatusLine(id="status")
        yield KeyHints(HINT_PRIORITY)

    def on_mount(self) -> None:
        self.query_one("#events", RichLog).border_title = "events"
        self.query_one(StatusLine).source = self.target.key
        revisions = self.query_one(RevisionsTable)
        analysis = self.vapp.config.analysis
        revisions.memory_warning = analysis.memory_warning_percent / 100
        revisions.cold_start_warning = analysis.cold_start_warning_percent / 100
        revisions.focus()
        fleet = self.vapp.fleet
        cached = next((s for s in fleet.services if s.env == self.target.env and s.service == self.target.service), None) if fleet else None
        if cached is not None:
            self.current = cached
            self._draw()
        self._draw_title()
        self.start_reading()

    # ------------------------------------------------------------ refresh loop

    def read(self) -> tuple[FleetStatus, Series | None, RecentTraffic | None]:
        app = self.vapp
        fleet = app.data.read([self.target])
        service = fleet.services[0]
        state = state_of(service.rollout)
        series = recent = None
        if not service.error:
            since = state.step_started if state and state.active else None
            series = app.data.series(self.target, since=since)
            fleet.api_calls += series.api_calls
            if state is not None and state.active:  # seconds-old sparklines while traffic moves
                try:
                    recent = app.data.recent_traffic(self.target)
                except ApiError:  # the request log is a bonus here: Monitoring's minutes stay on screen
                    recent = None
        try:
            app.month_if_due(None)
        except Exception as error:  # noqa: BLE001 - cost is secondary: show it and retry later
            app.call_from_thread(self.notify, f"month-to-date cost not read: {error}", severity="warning")
        return fleet, series, recent

    def apply(self, data: tuple[FleetStatus, Series | None, RecentTraffic | None]) -> str | None:
        fleet, series, recent = data
        service = fleet.services[0]
        self.query_one(StatusLine).calls = fleet.api_calls
        if service.error:
            return service.error  # keep the last good read on screen
        if self.current is not None and self.current is not service:
            self.previous = self.current
        self.current = service
        self.window_end = fleet.window_end
        if series is not None:
            self.series = series
        self.recent = recent
        self.mark_fresh()
        self._draw()
        return None

    def next_delay(self) -> float | None:
        base = self.vapp.refresh_seconds
        if base is None:
            return None
        state = self.state
        if self.busy or (state is not None and state.active):
            return min(base, ACTION_REFRESH_SECONDS)
        return base

    def showing(self) -> bool:
        """Read while on top, or while hidden only if this screen drives a rollout (its state follows
        the engine); any other hidden screen reads again when the operator returns."""
        return self.is_current or self.auto_running

    def tick(self) -> None:
        super().tick()
        self._draw_title()

    # -------------------------------------------------------------------- drawing

    @property
    def state(self) -> RolloutState | None:
        return state_of(self.current.rollout) if self.current is not None else None

    def roles(self) -> dict[str, str]:
        service = self.current
        if service is None:
            return {}
        state = self.state
        roles: dict[str, str] = {}
        if state is not None and state.active:
            roles[state.stable] = "stable"
            roles[state.candidate] = "candidate"
            return roles
        cfg = self.vapp.config.rollout
        for r in service.revisions:
            if r.traffic_percent == 100 or r.tag == cfg.stable_tag:
                roles.setdefault(r.name, "stable")
        for r in service.revisions:
            if r.tag == cfg.candidate_tag and r.name not in roles:
                roles[r.name] = "candidate"
        return roles

    def _pair(self) -> tuple[str | None, str | None]:
        roles = self.roles()
        stable = next((r for r, role in roles.items() if role == "stable"), None)
        candidate = next((r for r, role in roles.items() if role == "candidate"), None)
        return stable, candidate

    def _draw_title(self) -> None:
        t = self.target
        text = Text(f"{t.env} / {t.service}", style="bold")
        text.append(f"  {t.project} · {t.region}", style="dim")
        if self.production:
            text.append("  ⚑ PRODUCTION", style=ALARM)
        now = self.vapp.clock.now()
        if self.current is not None:
            text.append("  ")
            text.append_text(rollout_text(self.current.rollout, now, self.target.rollout.bake_seconds, self.target.rollout.max_bake_seconds))
            state = self.state
            if state is not None and state.phase == "paused":
                text.append_text(paused_text(state, self.target.rollout.bake_seconds))
            if state is not None and state.active:
                text.append("  " + self._driver_note(state), style="dim")
        self.query_one("#title", Static).update(text)

    def _draw(self) -> None:
        service = self.current
        if service is None:
            return
        app = self.vapp
        roles = self.roles()
        self._draw_title()
        self.query_one(TrafficBar).show({r.name: r.traffic_percent for r in service.revisions if r.traffic_percent}, roles)
        self.query_one(RevisionsTable).show(service, self.previous, roles, self.filter_text)
        table_age = window_age(self.window_end, app.clock.now())  # the table is Monitoring's, the panels may not be
        self.query_one("#revisions-age", Static).update(
            Text(f"revisions: Cloud Monitoring, {table_age}" if table_age else "", style="dim"))
        stable, candidate = self._pair()
        state = self.state
        now = app.clock.now()
        if self.live_verdict is not None and state is not None and self.live_verdict[0] == state.id:
            self.query_one(VerdictPanel).show(self.live_verdict[1])
        else:
            driver = ""
            if state is not None and state.active:
                driver = "shadow verdict from the windows on screen; " + self._driver_note(state)
            elif state is not None:
                driver = f"started by {state.driver}"
            windows = self.series.windows if self.series else {}
            self.query_one(VerdictPanel).show(view_from_state(state, app.config, self.target, windows, now, driver))
        # after the verdict: the candidate's panel turns red only when the judge failed it
        self.query_one(CompareSparks).show(self._series_view("stable", stable), self._series_view("candidate", candidate))
        headline = ""
        if state is not None:
            headline = f"rollout {state.id}: {short_revision(state.candidate, self.target.service)} vs stable {short_revision(state.stable, self.target.service)}, steps {' → '.join(map(str, state.steps))} %"
        self.query_one(StepHistory).show(steps_of(state, now), now, headline)
        self.query_one(SmokeResults).show(self.smoke, self.smoke_headline)
        self.query_one(CostPanel).show(self._cost_view(service, stable, candidate))

    def _driver_note(self, state: RolloutState) -> str:
        """Who drives the rollout now: this console, another holder of the lease, or nobody."""
        if self.auto_running:
            return "driven by this console (space pauses, r rolls back, p promotes)"
        if state.phase == "paused":
            return "paused: space resumes the same rollout"
        lease = getattr(self.current, "lease", None)
        if lease and lease.get("holder") and lease.get("holder") != self._my_holder():
            return f"driven by {lease['holder']}"
        if self.busy:
            return f"{self.busy} running here"
        return "nobody drives it now: s steps on, a automates"

    def _my_holder(self) -> str:
        import os

        from console.identity import driver_identity

        return f"{driver_identity()} pid {os.getpid()}"

    def _series_view(self, role: str, revision: str | None) -> SeriesView:
        service = self.current
        r = service.revision(revision) if (service and revision) else None
        errors = self.series.errors.get(revision, []) if (self.series and revision) else []
        p95 = self.series.p95.get(revision, []) if (self.series and revision) else []
        fault = False
        if role == "candidate" and r is not None:
            # red when it is not ready or the judge failed it; a high rate on a handful of requests is
            # not a fault while the judge says there is nothing to compare yet
            fault = not r.ready or self.query_one(VerdictPanel).view.decision == "fail"
        view = SeriesView(
            role=role, revision=revision, image=r.image if r else None, traffic_percent=r.traffic_percent if r else 0,
            request_rate=r.request_rate if r else None, error_rate=r.error_rate if r else None,
            p95_ms=r.p95_ms if r else None, errors=errors[-30:], p95=p95[-30:], fault=fault,
            cpu=self._spark("cpu", revision), memory=self._spark("memory", revision), cold=self._spark("cold", revision),
            saturation_missing=self.series.saturation_error if self.series else None,
            window_end=self.window_end, now=self.vapp.clock.now(),
        )
        recent = self.recent
        if recent is None or revision is None or revision not in recent.last_minute:
            return view
        request_rate, error_rate, p95_ms = recent.last_minute[revision]
        return replace(view, request_rate=request_rate, error_rate=error_rate, p95_ms=p95_ms,
                       errors=recent.errors[revision], p95=recent.p95[revision],
                       per=f"{recent.bucket_seconds:g} s", source="request log", window_end=recent.until)

    def _spark(self, name: str, revision: str | None) -> list[float]:
        """The last 30 windows of one of Series' per-revision saturation figures."""
        if self.series is None or revision is None:
            return []
        return getattr(self.series, name).get(revision, [])[-30:]

    def _cost_view(self, service: ServiceStatus, stable: str | None, candidate: str | None) -> CostView:
        app = self.vapp
        rows = []
        for r in service.revisions:
            if r.cost_per_hour is None and r.traffic_percent == 0:
                continue
            role = {stable: " (stable)", candidate: " (candidate)"}.get(r.name, "")
            rows.append(CostRow(short_revision(r.name, self.target.service) + role, r.cost_per_hour, r.cost_per_1k_requests))
        s = service.revision(stable) if stable else None
        c = service.revision(candidate) if candidate else None
        month = app.month
        budget = app.config.budget
        status = (
            budget_status(month.total, month.forecast, budget.monthly_usd, budget.alert_percents, month.forecast_basis)
            if month else None
        )
        return CostView(
            rows=rows,
            candidate_per_1k=c.cost_per_1k_requests if c else None,
            stable_per_1k=s.cost_per_1k_requests if s else None,
            margin=app.cost_margin,
            service_month_to_date=month.per_service.get(self.target.key) if month else None,
            month_to_date=month.total if month else None,
            forecast=month.forecast if month else None,
            forecast_basis=month.forecast_basis if month else "",
            budget=budget.monthly_usd,
            marks=tuple(budget.alert_percents),
            budget_badge=status.badge() if status else "",
            budget_level=status.level if status else "ok",
            min_instances=tuple((short_revision(r.name, self.target.service), r.min_instances or 0,
                                 r.min_instances_idle_cost_per_hour) for r in service.revisions
                                if r.min_instances_idle_cost_per_hour and (r.traffic_percent or r.name in (stable, candidate))),
        )

    # -------------------------------------------------------------- engine plumbing

    def _engine(self, stop: threading.Event | None = None) -> Engine:
        from console.engine import Engine

        app = self.vapp
        engine = Engine(app.config, self.target, app.clients, app.clock, on_event=self._event_from_thread,
                        stop=self.stop if stop is None else stop, on_interrupt="hold")
        engine.audit.backlog = self.audit_backlog  # one per screen: a later action retries what failed
        return engine

    def _event_from_thread(self, event: Event) -> None:
        """Engine thread: hand the event to the UI as its kind's message (post_message is thread-safe)."""
        self.post_message(engine_message(event))

    @on(EngineEvent)
    def _log_event(self, message: EngineEvent) -> None:
        """Every engine event, whatever its kind, goes to the events log."""
        if not self.is_attached:
            return
        event = message.event
        kind = event.kind
        style = {
            EventKind.ROLLBACK: ALARM, EventKind.ERROR: BAD, EventKind.WARN: WARN,
            EventKind.PROMOTE: OK, EventKind.VERDICT: "bold", EventKind.TRAFFIC: ACTIVE,
        }.get(EventKind(kind), "")
        self.query_one("#events", RichLog).write(
            Text(f"{utc_time(event.at, seconds=True)} {kind:>8} {event.message}", style=style)
        )

    @on(AuditNotWritten)
    def _audit_not_written(self, message: AuditNotWritten) -> None:
        if not self.is_attached:
            return
        # the traffic change is done, but the shared history would miss it: the operator must know
        self.notify(message.event.message, title="audit entry not written", severity="warning", timeout=15)
        self._audit_missing("⚠ an audit entry is not written yet (retried)")

    @on(Judged)
    def _judged(self, message: Judged) -> None:
        if not self.is_attached:
            return
        state = self.state
        view = view_from_event(dict(message.event.data), "judged by this console")
        self.live_verdict = (state.id if state else None, view)
        self.query_one(VerdictPanel).show(view)

    @on(SmokeChecked)
    def _smoke_checked(self, message: SmokeChecked) -> None:
        if not self.is_attached:
            return
        data = message.event.data
        if data.get("checks_url"):  # a new run of checks starts: its headline replaces the last run's results
            self.smoke = []
            self.smoke_headline = message.event.message
        result = data.get("result")
        if result:
            self.smoke.append(dict(result))
        self.query_one(SmokeResults).show(self.smoke, self.smoke_headline)

    @on(RolloutMoved)
    def _rollout_moved(self, message: RolloutMoved) -> None:
        if self.is_attached:
            self.refresh_soon()

    @on(RolledBack)
    def _rolled_back(self, message: RolledBack) -> None:
        if self.is_attached:
            self.notify(message.event.message, title="rolled back", severity="error", timeout=10)
            self.refresh_soon()

    @on(Promoted)
    def _promoted(self, message: Promoted) -> None:
        if self.is_attached:
            self.notify(message.event.message, title="promoted", timeout=8)
            self.refresh_soon()

    @on(Held)
    def _held(self, message: Held) -> None:
        if not self.is_attached:
            return
        self.held = True
        self.live_verdict = None  # the judge waits: the panel shows the paused state, not the last bake
        self.notify("paused: traffic held where it is, the bake clock stopped; space resumes", title="paused",
                    severity="warning")
        self.refresh_soon()

    @on(Stopped)
    def _stopped(self, message: Stopped) -> None:
        if self.is_attached:
            self.notify(message.event.message, title="stopped", severity="error", timeout=12)
            self.refresh_soon()

    @on(EngineError)
    def _engine_error(self, message: EngineError) -> None:
        if self.is_attached:
            self.notify(message.event.message, title="error", severity="error", timeout=10)

    # ------------------------------------------------------------------ guards

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TRAFFIC_ACTIONS and self.vapp.read_only:
            return False  # hidden from the footer, the key does nothing
        if action in TRAFFIC_ACTIONS and self.busy and not self._allowed_while_driving(action):
            return None  # shown disabled while an action runs
        return True

    def _allowed_while_driving(self, action: str) -> bool:
        """During this console's own automatic rollout the operator can still pause, promote or roll back."""
        return action == "pause" or (self.auto_running and action in ("promote", "rollback"))

    def _refuse(self, action: str) -> bool:
        if action in TRAFFIC_ACTIONS and self.vapp.read_only:
            self.notify(f"read-only: {action} changes traffic and is refused", severity="error")
            return True
        if self.busy and not (self.auto_running and self._allowed_while_driving(action)):
            self.notify(f"busy: {self.busy} is still running", severity="warning")
            return True
        return False

    def _confirm_then(self, plan: str, run: Callable[[], None]) -> None:
        def done(confirmed: bool | None) -> None:
            if confirmed:
                run()
            else:
                self.notify("not confirmed: nothing changed", severity="warning")

        self.vapp.push_screen(
            ConfirmTraffic(self.target.key, plan, production=self.production, service=self.target.service), done
        )

    @work(thread=True, group="action")
    def _plan(self, what: str, planner: Callable[[Any], str], run: Callable[[], None]) -> None:
        """Work out (with I/O) what an action would do, then ask for confirmation on the UI."""
        try:
            plan = planner(self._engine())
        except Exception as error:  # noqa: BLE001
            self.vapp.call_from_thread(self._action_failed, what, error)
            return
        if plan.startswith("nothing"):
            self.vapp.call_from_thread(self.notify, plan, severity="warning")
            return
        self.vapp.call_from_thread(self._confirm_then, plan, run)

    @work(thread=True, group="action")
    def _run(self, what: str, call: Callable[[Any], Any], owns_busy: bool = True) -> None:
        """Run one engine call; tell the operator how it went. `owns_busy` False: an action beside this
        console's automatic rollout (a rollback), which ends it; the rollout's worker clears `busy`.
        The endings go through this screen's message queue (`call_later` is thread-safe), behind the
        engine's events: the hold, smoke and audit messages are handled before the action's end."""
        engine = self._engine() if owns_busy else self._engine(stop=threading.Event())
        try:
            outcome = call(engine)
            missing = len(engine.audit.pending)
            self.call_later(
                self._audit_missing,
                f"⚠ {missing} audit entr{'y' if missing == 1 else 'ies'} not written: `vinconsole history` will miss "
                "them (see the events)" if missing else "",
            )
        except Exception as error:  # noqa: BLE001 - LeaseHeldError, UsageError, API errors: shown, never a crash
            self.call_later(self._action_failed, what, error)
        else:
            self.last_outcome = outcome
            self.call_later(self._action_done, what, outcome)
        finally:
            if owns_busy:
                self.call_later(self._set_busy, "")

    def _audit_missing(self, note: str) -> None:
        """The status line says while an audit entry of this console's writes is missing ('' clears it)."""
        if self.is_attached:
            self.query_one(StatusLine).source = f"{self.target.key}  {note}" if note else self.target.key

    def _start(self, what: str, call: Callable[[Any], Any], auto: bool = False) -> None:
        self.held = False
        self._set_busy(what, auto)
        self._run(what, call)

    def _set_busy(self, what: str, auto: bool = False) -> None:
        if not self.is_attached:
            return
        self.busy = what
        self.auto_running = bool(what) and auto
        if not what:
            self.stop.clear()
            then, self.after_auto = self.after_auto, None
            if then is not None:
                self.call_after_refresh(then)
        self.query_one(StatusLine).busy = what
        self.refresh_bindings()
        self.refresh_soon()

    def _action_done(self, what: str, outcome: Any) -> None:
        if outcome is None or not self.is_attached:
            return
        if isinstance(outcome, list):  # smoke results
            failed = [r for r in outcome if not r.ok]
            if failed:
                self.notify(", ".join(f"{r.name}: {r.error}" for r in failed), title="smoke checks failed", severity="error")
            else:
                self.notify(f"{len(outcome)} smoke checks passed", title="smoke checks")
            return
        severity: SeverityLevel = "information"
        if outcome.outcome == "rolled_back" and what != "rollback":
            severity = "error"
        elif outcome.outcome == "aborted":
            severity = "warning"
        if outcome.outcome in ("rolled_back", "promoted", "stopped") and what in ("auto", "resume"):
            return  # the engine's event already said so, with the reasons
        if outcome.exit_code == 130 and what in ("auto", "resume") and self.held:
            return  # paused: the hold event said so; the rollout is not over
        self.notify(outcome.message, title=f"{what}: {outcome.outcome}", severity=severity, timeout=8)

    def _action_failed(self, what: str, error: Exception) -> None:
        from console.errors import LeaseHeldError

        if isinstance(error, LeaseHeldError):
            message = f"{self.target.key} is held by {error.holder} (lease expires in {max(0, error.expires_in):.0f} s); nothing changed"
            self.query_one(StatusLine).error = f"lease held by {error.holder}"
            self.notify(message, title=f"{what}: refused", severity="error", timeout=10)
        else:
            self.notify(str(error), title=f"{what} failed", severity="error", timeout=10)

    # ------------------------------------------------------------------- actions

    def action_step(self) -> None:
        if self._refuse("step"):
            return
        self._plan("step", lambda e: e.plan_step()[1], lambda: self._start("step", lambda e: e.step()))

    def action_split(self) -> None:
        if self._refuse("split"):
            return
        state = self.state
        if not (state and state.active and state.phase != "smoke"):
            self.notify("a custom split needs a rollout past its smoke checks: step first (s)", severity="warning")
            return

        def chosen(percent: int | None) -> None:
            if percent is None:
                return
            plan = f"send {state.candidate} {percent} % and {state.stable} {100 - percent} % (now {state.percent} %)"
            self._confirm_then(plan, lambda: self._start("split", lambda e: e.set_split(percent)))

        self.vapp.push_screen(SplitInput(short_revision(state.candidate, self.target.service), state.percent), chosen)

    def action_smoke(self) -> None:
        if self._refuse("smoke"):
            return
        stable, candidate = self._pair()
        state = self.state
        if state is not None and state.active:
            candidate = state.candidate
        if candidate is None:
            self.notify("no candidate revision to check (none is tagged)", severity="warning")
            return
        self.smoke = []
        self.smoke_headline = f"running against {short_revision(candidate, self.target.service)}…"
        self.query_one(SmokeResults).show([], self.smoke_headline)
        self._start("smoke", lambda e: e.smoke(candidate))

    def action_auto(self) -> None:
        if self._refuse("auto"):
            return

        def plan(engine: Any) -> str:
            state, text = engine.plan_step()
            if state is not None and state.active:
                return f"resume the automatic rollout of {state.candidate} at {state.percent} % ({state.phase}); the engine steps, judges, promotes or rolls back"
            if text.startswith("nothing"):
                return text
            steps = " → ".join(map(str, self.target.rollout.steps))
            return f"automatic rollout: {text.split(', then')[0]}, then steps {steps} % judged at each step; rolls back by itself on a regression"

        self._plan("auto", plan, self._start_auto)

    def _start_auto(self) -> None:
        self.live_verdict = None
        self.stop.clear()
        self._start("auto", lambda e: e.auto_promote(), auto=True)

    def action_pause(self) -> None:
        if self.vapp.read_only:
            self._refuse("pause")
            return
        if self.auto_running:
            self.stop.set()
            self.notify("pausing: the engine holds traffic where it is and releases the lease", title="pause")
            return
        if self._refuse("pause"):
            return
        state = self.state
        if state is None or not state.active:
            self.notify("no rollout to pause or resume (a starts one)", severity="warning")
            return
        self.action_auto()

    def action_promote(self) -> None:
        if self._refuse("promote"):
            return
        state = self.state
        if not (state and state.active):
            self.notify("no rollout in progress to promote", severity="warning")
            return
        plan = f"promote {state.candidate} to 100 % now (from {state.percent} %); {state.stable} kept as tag 'previous'"
        decision = self.query_one(VerdictPanel).view.decision
        if decision != "pass":  # the operator overrides the judge: say so with what it last said
            said = f"it says {decision}" if decision else "it has no verdict yet"
            plan += f". The judge has not passed step {state.step + 1} at {state.percent} % ({said}): no more judging after this"
        promote = lambda: self._start("promote", lambda e: e.promote_now())  # noqa: E731
        if self.auto_running:  # this console drives: pause its rollout (lease released), then promote
            self._confirm_then(plan, lambda: self._pause_then(promote))
            return
        self._confirm_then(plan, promote)

    def _pause_then(self, then: Callable[[], None]) -> None:
        self.after_auto = then
        self.stop.set()

    def action_rollback(self) -> None:
        if self._refuse("rollback"):
            return
        service = self.current
        if service is None:
            return
        stable, _ = self._pair()
        state = self.state
        if state is not None:
            stable = state.stable
        choices: list[tuple[str, str]] = []
        if stable:
            choices.append((stable, f"{short_revision(stable, self.target.service)} — stable (default)"))
        for r in service.revisions:
            if r.name != stable and r.ready:
                choices.append((r.name, f"{short_revision(r.name, self.target.service)} — {r.image.rsplit('/', 1)[-1]}, {r.traffic_percent} % now"))

        def chosen(revision: str | None) -> None:
            if revision is None:
                return
            to = None if revision == stable else revision
            if self.auto_running:  # beside this console's rollout: the rollback wins, the rollout stops by itself
                self._plan("rollback", lambda e: e.plan_rollback(to)[1],
                           lambda: self._run("rollback", lambda e: e.rollback_now(to), owns_busy=False))
                return
            self._plan("rollback", lambda e: e.plan_rollback(to)[1],
                       lambda: self._start("rollback", lambda e: e.rollback_now(to)))

        self.vapp.push_screen(ChooseRevision(f"{self.target.key}: roll back to", choices), chosen)

    def action_back(self) -> None:
        if self.query_one(FilterBox).clear_filter():
            self.query_one(RevisionsTable).focus()
            return
        if self.auto_running:
            self.notify("the automatic rollout keeps running in this console; back on this service with enter", severity="information")
        self.vapp.pop_screen()

    def action_filter(self) -> None:
        self.query_one(FilterBox).open(self.filter_text)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._draw()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(RevisionsTable).focus()

    def action_jump(self) -> None:
        self.vapp.push_screen(JumpTo(self.vapp.jump_choices()), self.vapp.jump)


def paused_text(state: RolloutState, bake_seconds: float) -> Text:
    """'  ⏸ PAUSED — baked 1:40 of 5:00, clock stopped': the bake time as it was when paused."""
    served = state.served_at if state.served_at is not None else state.step_started
    baked = max(0, int((state.paused_at or served) - served))
    return Text(f"  ⏸ PAUSED — baked {baked // 60}:{baked % 60:02d} of {int(bake_seconds) // 60}:"
                f"{int(bake_seconds) % 60:02d}, clock stopped", style=WARN_STRONG)


def state_of(rollout: dict | None) -> RolloutState | None:
    """The rollout state from ServiceStatus.rollout (the parsed annotation)."""
    if not rollout or "error" in rollout:
        return None
    return read_rollout({ROLLOUT_ANNOTATION: json.dumps(rollout)})
