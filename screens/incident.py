"""The on-call incident view: what is broken now, since when, which revision, and the one key that rolls it back.

- every service × environment ranked by severity (console.incident.IncidentReader.overview);
- for the selected one: the timeline (1 h / 6 h / 24 h) with its markers, the error groups with a
  live tail (console.gcp.logs.LogTail, its own thread, reconnects by itself), the last known good
  revision and why;
- `r`: rollback_to_last_good after the usual confirmation (production: type the service name); the
  data layer writes the audit entry with when the errors started.

One refresh worker reads the overview and the selected service's detail; the next read is scheduled
only once it has finished. API errors go to the status line and are retried with a backoff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from console.errors import ApiError
from console.requestlog import RecentTraffic
from console.signatures import TracebackStitcher
from screens.bindings import HINT_PRIORITY, INCIDENT_BINDINGS, TRAFFIC_ACTIONS
from screens.live import LiveScreen
from screens.modals import MODAL_CSS, ConfirmTraffic, JumpTo
from widgets.error_groups import ErrorGroupsTable, clock_text, revisions_text
from widgets.format import age, pct, short_revision, split_text
from widgets.incident_table import IncidentTable, level_text
from widgets.key_hints import KeyHints
from widgets.palette import ACTIVE, ALARM, OK, OK_STRONG, WARN
from widgets.status_line import StatusLine
from widgets.timeline import TimelineChart, TimelineView

SPANS = ("1h", "6h", "24h")
TAIL_REDRAW_SECONDS = 0.5
RECENT_BUCKETS = 6  # "5xx now" from the request log: its last minute of 10 s buckets


class ErrorEntryScreen(ModalScreen[None]):
    """One whole log entry of an error group, stack trace included."""

    DEFAULT_CSS = MODAL_CSS.format(name="ErrorEntryScreen") + """
    ErrorEntryScreen > Vertical { width: 120; }
    ErrorEntryScreen #entry-body { height: auto; max-height: 30; border: round $error; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "close", id="close"),
        Binding("enter", "close", "close", show=False, id="close_enter"),
        Binding("q", "close", "close", show=False, id="close_q"),
    ]

    def __init__(self, group: Any, service: str, now: float):
        super().__init__()
        self.group = group
        self.service = service
        self.now = now

    def compose(self) -> ComposeResult:
        g = self.group
        entry = g.example
        with Vertical():
            yield Label(f"✖ {g.message}", classes="title")
            meta = Text(f"{g.count} entries · first {clock_text(g.first_seen, self.now)} · last {clock_text(g.last_seen, self.now)}\n")
            meta.append(f"revisions: {revisions_text(g.revisions, self.service)}\n", style="dim")
            meta.append(f"signature: {g.signature}", style="dim")
            yield Static(meta)
            head = ""
            if entry is not None:
                when = datetime.fromtimestamp(entry.timestamp, UTC).isoformat(timespec="milliseconds")
                head = f"{entry.severity} {when} {entry.resource_labels.get('revision_name', '')} {entry.insert_id}\n\n"
            with VerticalScroll(id="entry-body"):
                yield Static(Text(head, style="dim") + Text(entry.text if entry is not None else "(no example kept)"), id="entry-text")
            yield Static("esc / enter close", classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)


class TailEntry(Message):
    def __init__(self, key: str, entry: Any):
        super().__init__()
        self.key = key
        self.entry = entry


class TailError(Message):
    def __init__(self, key: str, error: Any):
        super().__init__()
        self.key = key
        self.error = error


class IncidentScreen(LiveScreen):
    BINDINGS = INCIDENT_BINDINGS
    HELP_TITLE = "incident"
    PALETTE_ACTIONS = ("rollback", "span_1h", "span_6h", "span_24h", "entry", "open", "jump", "back", "refresh")
    PALETTE_PREFIX = "incident: "

    def __init__(self) -> None:
        super().__init__()
        self.reader: Any = None  # IncidentReader, made in the first worker (it imports the Google clients)
        self.rows: list[Any] = []
        self.previous: dict[str, Any] = {}
        self.selected: str | None = None
        self.span = "1h"
        self.detail: Any = None  # ServiceDetail of `selected` at `span`
        self.recent: dict[str, RecentTraffic] = {}  # service key → its request log's last minute, where it flows
        self.previous_stream: dict[str, tuple[float, float]] = {}  # the last read's "5xx now" from the request log
        self.busy = ""
        self.tail: Any = None
        self.tail_key: str | None = None
        self.tail_state = "off"  # off | connecting | live | reconnecting
        self.tail_error = ""
        self.tail_new = 0
        self.tail_last: float | None = None
        self.bumped: set[str] = set()
        self._tail_cutoff = 0.0
        self._stitcher = TracebackStitcher()
        self._reconnects_seen = 0
        self._errors_dirty = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(self.vapp.banner, classes="banner")
        with VerticalScroll(id="body"):
            yield IncidentTable(id="incidents")
            yield Static("", id="headline")
            yield Static("", id="lastgood")
            yield TimelineChart(id="timeline")
            yield Static("", id="tail")
            yield ErrorGroupsTable(id="errors")
        yield StatusLine(id="status")
        yield KeyHints(HINT_PRIORITY)

    def on_mount(self) -> None:
        self.query_one("#errors", ErrorGroupsTable).border_title = "errors grouped by signature — enter shows a whole entry"
        self.query_one(StatusLine).source = "incident view"
        self.set_interval(TAIL_REDRAW_SECONDS, self._tail_redraw)
        self.query_one(IncidentTable).focus()
        self._draw_tail()
        self.start_reading()

    def on_unmount(self) -> None:
        self._stop_tail()

    # ------------------------------------------------------------ refresh loop

    def read(self) -> tuple[list[Any], str | None, str, Any, Exception | None, dict[str, RecentTraffic]]:
        """The ranked list, the selected service's detail (a detail error still shows the list) and each
        service's request log's last minute (left out while it does not flow: "5xx now" is then Monitoring's)."""
        app = self.vapp
        if self.reader is None:
            from console.incident import IncidentReader

            self.reader = IncidentReader(app.config, app.view_clients, app.clock)
        rows = self.reader.overview(app.targets)
        key = self.selected if any(r.key == self.selected for r in rows) else (rows[0].key if rows else None)
        span = self.span
        detail, failure = None, None
        row = next((r for r in rows if r.key == key), None)
        if row is not None and not row.error:
            try:
                detail = self.reader.detail(app.target(row.key), span, row)
            except Exception as error:  # noqa: BLE001 - shown in the status line, retried
                failure = error
        recent: dict[str, RecentTraffic] = {}
        for each in rows:  # one shared tail per project: a service more is a filter term, not a stream
            if each.error:
                continue
            try:
                traffic = app.data.recent_traffic(app.target(each.key), RECENT_BUCKETS)
            except ApiError:  # "5xx now" stays Monitoring's five minutes
                traffic = None
            if traffic is not None:
                recent[each.key] = traffic
        return rows, key, span, detail, failure, recent

    def apply(self, data: tuple[list[Any], str | None, str, Any, Exception | None, dict[str, RecentTraffic]]) -> str | None:
        rows, key, span, detail, failure, recent = data
        self.recent = recent
        now = self.vapp.clock.now()
        if self.rows:
            self.previous = {r.key: r for r in self.rows}
        self.rows = rows
        if self.selected is None or not any(r.key == self.selected for r in rows):
            self.selected = key
        stream = stream_5xx(recent, now)
        self.query_one(IncidentTable).show(rows, now, self.previous, selected=self.selected, stream=stream,
                                           previous_stream=self.previous_stream)
        self.previous_stream = stream
        if detail is not None and detail.row.key == self.selected and span == self.span:
            previous = self.detail
            if (previous is not None and previous.row.key == detail.row.key and previous.timeline.span == span
                    and detail.logs_read_at == previous.logs_read_at):
                detail.errors = previous.errors  # the same log read: keep what the tail added since
            else:
                self._tail_cutoff = detail.logs_read_at if detail.logs_read_at is not None else detail.read_at
                self.bumped = set()
                self.tail_new = 0
            self.detail = detail
        elif key != self.selected or span != self.span:
            self._again = True  # the operator moved on while we read: read what they look at now
        self._draw_detail()
        self._ensure_tail()
        errors = [r.error for r in rows if r.error] + ([str(failure)] if failure else [])
        if detail is not None and detail.logs_error:
            errors.append(detail.logs_error)  # e.g. log reads paused for the quota: until when, and why
        self.query_one(StatusLine).calls = (4 * len({(r.project, r.region) for r in rows})) + (detail.api_calls if detail else 0)
        if not rows or not all(r.error for r in rows):
            self.mark_fresh()  # nothing read is not fresh data: the age keeps counting
        return errors[0] if errors else None

    def showing(self) -> bool:
        """On top, or under a modal (a confirmation, an error entry): the view behind stays live."""
        return self.is_current or (self in self.vapp.screen_stack and isinstance(self.vapp.screen, ModalScreen))

    def tick(self) -> None:
        super().tick()
        tail = self.tail
        if tail is not None and tail.reconnects > self._reconnects_seen:
            self._reconnects_seen = tail.reconnects
            if self.tail_state != "live" or self.tail_last is None:
                self.tail_state = "reconnecting"
            self._draw_tail()

    # -------------------------------------------------------------------- drawing

    @property
    def row(self) -> Any | None:
        return next((r for r in self.rows if r.key == self.selected), None)

    def _draw_detail(self) -> None:
        row = self.row
        now = self.vapp.clock.now()
        headline = self.query_one("#headline", Static)
        lastgood = self.query_one("#lastgood", Static)
        timeline = self.query_one(TimelineChart)
        errors = self.query_one(ErrorGroupsTable)
        if row is None:
            headline.update(Text("no services to show", style="dim"))
            return
        text = Text(f"{row.env} / {row.service}", style="bold")
        if row.production:
            text.append("  ⚑ PRODUCTION", style=ALARM)
        text.append("   ")
        text.append_text(level_text(row.level))
        if row.reason:
            text.append(f" — {row.reason}")
        text.append("\n")
        if row.since is not None:
            text.append(f"errors since {datetime.fromtimestamp(row.since, UTC).strftime('%H:%M UTC')} ({age(now - row.since)} ago) · ", style="bold")
        recent = self.recent.get(row.key)
        minute = recent.service_last_minute() if recent is not None else None
        if recent is not None and minute is not None and minute[1] is not None:
            text.append(f"5xx {pct(minute[1])} in the last minute (request log, {age(max(0.0, now - recent.until))} old)", style="bold")
            text.append(f" · {pct(row.error_rate)} over 5 min", style="dim")
        else:
            text.append(f"5xx {pct(row.error_rate)} now", style="dim")
        text.append(f" vs {pct(row.baseline_error_rate)} over the trailing day · serving {split_text(row.serving, row.service)}", style="dim")
        headline.update(text)
        detail = self.detail if self.detail is not None and self.detail.row.key == row.key else None
        lastgood.update(self._last_good_text(row, detail))
        if detail is None:
            timeline.show(None, "reading the timeline…" if not row.error else f"✖ {row.error}")
            errors.show([], now, row.service)
            return
        message = "" if detail.timeline.span == self.span else f"reading {self.span}…"
        timeline.show(self._timeline_view(detail), message)
        self._draw_errors()

    def _last_good_text(self, row: Any, detail: Any) -> Text:
        if row.error:
            return Text("")
        if detail is None:
            return Text("last known good: reading…", style="dim")
        good = detail.last_good
        if good is None:
            return Text("● no alert: the error budget burns below every paging rate, nothing to roll back", style=OK)
        if good.revision is None:
            return Text(f"? no last known good revision: {good.reason}", style=WARN)
        key = "r" if not self.vapp.read_only else "read-only: no rollback here"
        out = Text("last known good: ", style="bold")
        out.append(short_revision(good.revision, row.service), style=OK_STRONG)
        out.append(f" — {good.reason.replace(row.service + '-', '')}")
        if self.vapp.read_only:
            out.append(f"   ({key})", style=WARN)
        elif good.revision in row.serving and row.serving.get(good.revision) == 100:
            out.append("   (serving 100 % already)", style="dim")
        else:
            out.append(f"   {key} rolls back to it", style=ALARM)
        return out

    def _timeline_view(self, detail: Any) -> TimelineView:
        row = detail.row
        limit = None
        if row.slo is not None:
            rule = row.slo.alert.rule
            limit = row.targets.availability_budget * (rule.burn_rate if rule is not None else 14.4)
        roles = {rev: "◀ serving" for rev, p in row.serving.items() if p}
        good = detail.last_good
        if good is not None and good.revision and good.revision not in roles:
            roles[good.revision] = "◀ last good"
        height = self.vapp.size.height
        return TimelineView(
            span=detail.timeline.span, start=detail.timeline.start, end=detail.timeline.end, period=detail.timeline.period,
            revisions=detail.timeline.revisions, markers=detail.timeline.markers, service=row.service, since=row.since,
            error_limit=limit, latency_target_ms=row.targets.latency_ms, roles=roles,
            max_revisions=4 if height >= 40 else 2, legend_lines=6 if height >= 40 else 3,
        )

    def _draw_errors(self) -> None:
        detail = self.detail
        if detail is None:
            return
        table = self.query_one(ErrorGroupsTable)
        table.show(detail.errors, self.vapp.clock.now(), detail.row.service, self.bumped)
        complete = "" if detail.errors_complete else " (the newest 5000 entries)"
        table.border_title = f"errors grouped by signature{complete} — {len(detail.errors)} groups · enter shows a whole entry"
        self._draw_tail()

    def _draw_tail(self) -> None:
        state = self.tail_state
        if state == "live":
            text = Text("● live tail", style=OK)
            text.append(f" · {self.tail_new} new entries since the last read", style="")
            if self.tail_last is not None:
                text.append(f" · last {datetime.fromtimestamp(self.tail_last, UTC).strftime('%H:%M:%S')}", style="dim")
        elif state == "connecting":
            text = Text("◌ tail connected, waiting for the first new entry", style=ACTIVE)
        elif state == "reconnecting":
            text = Text(f"▲ tail reconnecting (attempt {max(1, self._reconnects_seen)})", style=WARN)
            if self.tail_error:
                text.append(f": {self.tail_error[:100]}", style=WARN)
        else:
            text = Text("tail off", style="dim")
        self.query_one("#tail", Static).update(text)

    # ------------------------------------------------------------------ live tail

    def _ensure_tail(self) -> None:
        key = self.selected
        if self.reader is None or key is None or (self.tail is not None and self.tail_key == key):
            return
        self._stop_tail()
        row = self.row
        if row is None or row.error:
            return
        self.tail_key = key
        self._stitcher = TracebackStitcher()
        self.tail_state = "connecting"
        self.tail_error = ""
        self.tail_last = None
        self._reconnects_seen = 0
        self.tail = self.reader.tail_errors(
            self.vapp.target(key),
            lambda entry, key=key: self.post_message(TailEntry(key, entry)),
            lambda error, key=key: self.post_message(TailError(key, error)),
        )
        self._draw_tail()

    def _stop_tail(self) -> None:
        if self.tail is not None:
            self.tail.stop()
        self.tail = None
        self.tail_key = None
        self.tail_state = "off"

    @on(TailEntry)
    def _tail_entry(self, message: TailEntry) -> None:
        if message.key != self.tail_key:
            return
        self.tail_state = "live"
        self.tail_last = message.entry.timestamp
        for entry in self._stitcher.feed(message.entry):  # plain stderr: one line per entry, traces stitched
            self._count_tail_entry(message.key, entry)

    def _count_tail_entry(self, service_key: str, entry: Any) -> None:
        detail = self.detail
        if detail is None or detail.row.key != service_key or entry.timestamp <= self._tail_cutoff:
            self._errors_dirty = True
            return
        from console.signatures import ErrorGroup, entry_text, headline, signature

        text = entry_text(entry)
        key = signature(text)
        revision = entry.resource_labels.get("revision_name", "") or "?"
        group = next((g for g in detail.errors if g.signature == key), None)
        if group is None:
            group = ErrorGroup(key, headline(text), 0, entry.timestamp, entry.timestamp, {}, entry)
            detail.errors.append(group)
        group.count += 1
        group.revisions[revision] = group.revisions.get(revision, 0) + 1
        group.first_seen = min(group.first_seen, entry.timestamp)
        if entry.timestamp >= group.last_seen:
            group.last_seen = entry.timestamp
            group.example = entry
            group.message = headline(text)
        detail.errors.sort(key=lambda g: (-g.count, -g.last_seen, g.signature))
        self.bumped.add(key)
        self.tail_new += 1
        self._errors_dirty = True

    @on(TailError)
    def _tail_error(self, message: TailError) -> None:
        if message.key != self.tail_key:
            return
        self.tail_state = "reconnecting"
        self.tail_error = str(message.error)
        self._draw_tail()

    def _tail_redraw(self) -> None:
        if self.tail_key is not None:  # a plain stderr trace whose last line will not come any more
            for entry in self._stitcher.flush(self.vapp.clock.now()):
                self._count_tail_entry(self.tail_key, entry)
        if self._errors_dirty and self.is_attached:
            self._errors_dirty = False
            self._draw_errors()

    # ------------------------------------------------------------------ selection

    @on(DataTable.RowHighlighted, "#incidents")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = self.query_one(IncidentTable).selected_key  # where the cursor is now, not where it passed
        if key is None or key == self.selected:
            return
        self.selected = key
        self._draw_detail()
        self._ensure_tail()
        self.refresh_soon()

    @on(DataTable.RowSelected, "#incidents")
    def _incident_selected(self, event: DataTable.RowSelected) -> None:
        self.query_one(ErrorGroupsTable).focus()

    @on(DataTable.RowSelected, "#errors")
    def _error_selected(self, event: DataTable.RowSelected) -> None:
        self.action_entry()

    # ------------------------------------------------------------------ guards

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TRAFFIC_ACTIONS and self.vapp.read_only:
            return False  # hidden from the footer, the key does nothing
        if action in TRAFFIC_ACTIONS and self.busy:
            return None
        return True

    def _refuse(self, action: str) -> bool:
        if action in TRAFFIC_ACTIONS and self.vapp.read_only:
            self.notify(f"read-only: {action} changes traffic and is refused", severity="error")
            return True
        if self.busy:
            self.notify(f"busy: {self.busy} is still running", severity="warning")
            return True
        return False

    # ------------------------------------------------------------------- actions

    def action_rollback(self) -> None:
        if self._refuse("rollback"):
            return
        row, detail = self.row, self.detail
        if row is None or detail is None or detail.row.key != row.key:
            self.notify("still reading this service: try again in a moment", severity="warning")
            return
        good = detail.last_good
        if good is None or good.revision is None:
            why = good.reason if good is not None else "no errors over the alerting rate"
            self.notify(f"{row.key}: no last known good revision to roll back to ({why})", severity="warning", timeout=8)
            return
        if row.serving == {good.revision: 100}:
            self.notify(f"{row.key}: {good.revision} serves 100 % already; nothing to do", severity="warning")
            return
        target = self.vapp.target(row.key)
        plan = (f"roll back: send 100 % to {good.revision} (now {split_text(row.serving, row.service)}).\n"
                f"Last known good: {good.reason}.")

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._set_busy("rollback")
                self._rollback(target, detail)
            else:
                self.notify("not confirmed: nothing changed", severity="warning")

        self.vapp.push_screen(ConfirmTraffic(target.key, plan, production=target.environment.production,
                                            service=target.service), done)

    @work(thread=True, group="action")
    def _rollback(self, target: Any, detail: Any) -> None:
        from console.incident import rollback_to_last_good

        app = self.vapp
        try:
            outcome = rollback_to_last_good(app.config, target, app.clients, app.clock, detail)
        except Exception as error:  # noqa: BLE001 - lease held, usage or API errors: shown, never a crash
            app.call_from_thread(self._rollback_failed, target, error)
        else:
            app.call_from_thread(self._rollback_done, target, outcome)
        finally:
            app.call_from_thread(self._set_busy, "")

    def _rollback_done(self, target: Any, outcome: Any) -> None:
        severity: SeverityLevel = "information" if outcome.outcome == "rolled_back" else "warning"
        self.notify(outcome.message, title=f"{target.key}: {outcome.outcome.replace('_', ' ')}", severity=severity, timeout=10)

    def _rollback_failed(self, target: Any, error: Exception) -> None:
        from console.errors import LeaseHeldError

        if isinstance(error, LeaseHeldError):
            self.notify(f"{target.key} is held by {error.holder}; nothing changed", title="rollback refused", severity="error", timeout=10)
        else:
            self.notify(str(error), title="rollback failed", severity="error", timeout=10)

    def _set_busy(self, what: str) -> None:
        if not self.is_attached:
            return
        self.busy = what
        self.query_one(StatusLine).busy = what
        self.refresh_bindings()
        self.refresh_soon()

    def _set_span(self, span: str) -> None:
        if span == self.span:
            return
        self.span = span
        self._draw_detail()
        self.refresh_soon()

    def action_span_1h(self) -> None:
        self._set_span("1h")

    def action_span_6h(self) -> None:
        self._set_span("6h")

    def action_span_24h(self) -> None:
        self._set_span("24h")

    def action_span_shorter(self) -> None:
        self._set_span(SPANS[max(0, SPANS.index(self.span) - 1)])

    def action_span_longer(self) -> None:
        self._set_span(SPANS[min(len(SPANS) - 1, SPANS.index(self.span) + 1)])

    def action_entry(self) -> None:
        group = self.query_one(ErrorGroupsTable).selected_group
        if group is None:
            self.notify("no error group selected", severity="warning")
            return
        self.vapp.push_screen(ErrorEntryScreen(group, self.row.service if self.row else "", self.vapp.clock.now()))

    def action_open(self) -> None:
        if self.selected:
            self.vapp.open_service(self.selected)

    def action_back(self) -> None:
        if len(self.vapp.screen_stack) > 2:
            self.vapp.pop_screen()
        else:
            from screens.fleet import FleetScreen

            self.vapp.switch_screen(FleetScreen())

    def action_jump(self) -> None:
        self.vapp.push_screen(JumpTo(self.vapp.jump_choices()), self.vapp.jump)


def stream_5xx(recent: dict[str, RecentTraffic], now: float) -> dict[str, tuple[float, float]]:
    """Each service's 5xx over the request log's last minute and that data's age, where it is known."""
    out: dict[str, tuple[float, float]] = {}
    for key, traffic in recent.items():
        minute = traffic.service_last_minute()
        if minute is not None and minute[1] is not None:
            out[key] = (minute[1], max(0.0, now - traffic.until))
    return out
