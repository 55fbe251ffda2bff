"""Cloud Logging: reading log entries, tailing them live, and writing the console's audit trail.

Within Cloud Logging's limits: ListLogEntries is 60 requests per minute per project for every
reader together (not raisable), so every page goes through this process's `LogReadBudget` (30 a
minute per project) and a RESOURCE_EXHAUSTED pauses the project's reads for a minute; live tails
are 10 sessions per project, so readers share one session per project (`TailHub`).

Iterating a tail blocks until entries arrive, so a tail only ever runs in a worker thread;
`LogTail` reconnects on its own when the stream breaks, and `stop()` cancels the call at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.errors import ApiError, UnavailableError
from console.gcp.clients import WRITE_TIMEOUT, Clients, api_error, guarded

AUDIT_LOG_ID = "vinconsole-audit"

# Cloud Logging's read quota: 60 ListLogEntries requests per minute per project, shared by every
# reader of the project and not raisable. One console process keeps itself to half of it, so that
# a second console (or CI) reading the same project at its own cap still fits.
PROJECT_READ_QUOTA_PER_MINUTE = 60
LOG_READS_PER_MINUTE = 30
# After a RESOURCE_EXHAUSTED the quota's minute has to pass: no log read for this long.
QUOTA_BACKOFF_SECONDS = 60.0
# Live tails: at most 10 sessions per project; a console holds at most one per project (TailHub).
PROJECT_TAIL_SESSIONS = 10

_SEVERITY_NAMES = {0: "DEFAULT", 100: "DEBUG", 200: "INFO", 300: "NOTICE", 400: "WARNING", 500: "ERROR", 600: "CRITICAL", 700: "ALERT", 800: "EMERGENCY"}


@dataclass(frozen=True)
class LogEntry:
    timestamp: float
    severity: str
    log_name: str
    text: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    resource_labels: Mapping[str, str] = field(default_factory=dict)
    http_status: int | None = None
    insert_id: str = ""


def severity_name(value: Any) -> str:
    """Severity comes back as an int from the API (or an enum); name it."""
    try:
        return _SEVERITY_NAMES.get(int(value), str(value))
    except (TypeError, ValueError):
        return str(getattr(value, "name", value))


def _to_python(value: Any) -> Any:
    """proto-plus Struct values into plain dicts and lists."""
    if hasattr(value, "items"):
        return {key: _to_python(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "RepeatedComposite":
        return [_to_python(item) for item in value]
    return value


def log_entry(proto: Any) -> LogEntry:
    payload = _to_python(proto.json_payload) if "json_payload" in proto else {}
    text = proto.text_payload or (payload.get("message", "") if isinstance(payload, dict) else "")
    status = proto.http_request.status if "http_request" in proto and proto.http_request.status else None
    return LogEntry(
        timestamp=proto.timestamp.timestamp() if proto.timestamp else 0.0,
        severity=severity_name(proto.severity),
        log_name=proto.log_name,
        text=text,
        payload=payload,
        labels=dict(proto.labels),
        resource_labels=dict(proto.resource.labels) if proto.resource else {},
        http_status=status,
        insert_id=proto.insert_id,
    )


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_log_name(project: str) -> str:
    return f"projects/{project}/logs/{AUDIT_LOG_ID}"


class Logs:
    def __init__(self, clients: Clients):
        self.clients = clients

    def list(
        self,
        project: str,
        filter_: str,
        *,
        newest_first: bool = True,
        limit: int = 1000,
        page_size: int = 500,
        max_wait: float | None = None,
    ) -> list[LogEntry]:
        """Entries matching `filter_`, one ListLogEntries request per page, each within this
        process's read budget for `project` (LogReadBudget): a request that would exceed it waits up
        to `max_wait` seconds (default: the clients' retry deadline), else LogQuotaError."""
        from google.cloud.logging_v2.types import ListLogEntriesRequest

        budget = read_budget(self.clients, project)
        patience = self.clients.retry_deadline if max_wait is None else max_wait
        call = f"ListLogEntries({project})"
        request = ListLogEntriesRequest(
            resource_names=[f"projects/{project}"],
            filter=filter_,
            order_by="timestamp desc" if newest_first else "timestamp asc",
            page_size=min(page_size, limit),
        )
        out: list[LogEntry] = []
        while True:
            budget.acquire(call, patience)
            try:
                page = guarded(call, lambda: self.clients.logging.list_log_entries(
                    request=request, retry=list_retry(self.clients.retry_deadline), timeout=self.clients.read_timeout
                ))
            except UnavailableError as error:
                if error.code == "RESOURCE_EXHAUSTED":
                    raise budget.exhausted(call) from error
                raise
            out.extend(log_entry(proto) for proto in itertools.islice(page.entries, limit - len(out)))
            if len(out) >= limit or not page.next_page_token:
                return out
            request.page_token = page.next_page_token

    def write(
        self,
        project: str,
        log_id: str,
        payload: Mapping[str, Any],
        *,
        severity: str = "NOTICE",
        resource_labels: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        timestamp: float | None = None,
        insert_id: str | None = None,
        text: str | None = None,
    ) -> None:
        """Write one entry: `payload` as jsonPayload, or `text` as textPayload (as a plain stderr line).

        `insert_id` makes a resent write (after a lost answer) the same entry: Cloud Logging
        drops entries with the same insert_id and timestamp written within a short window, and
        readers dedupe by it (history)."""
        from google.api import monitored_resource_pb2
        from google.cloud.logging_v2.types import LogEntry as LogEntryProto
        from google.cloud.logging_v2.types import WriteLogEntriesRequest
        from google.protobuf import struct_pb2

        entry = LogEntryProto(
            log_name=f"projects/{project}/logs/{log_id}",
            resource=monitored_resource_pb2.MonitoredResource(
                type="cloud_run_revision", labels={"project_id": project, **(resource_labels or {})}
            ),
            severity=severity,
            labels=dict(labels or {}),
            insert_id=insert_id or "",
        )
        if text is not None:
            entry.text_payload = text
        else:
            struct = struct_pb2.Struct()
            struct.update(dict(payload))
            entry.json_payload = struct
        if timestamp is not None:
            entry.timestamp = datetime.fromtimestamp(timestamp, UTC)
        request = WriteLogEntriesRequest(entries=[entry])
        guarded(
            f"WriteLogEntries({log_id})",
            lambda: self.clients.logging.write_log_entries(request=request, retry=self.clients.retry(), timeout=WRITE_TIMEOUT),
        )

    def tail(self, project: str, filter_: str) -> TailStream:
        """Open a live tail. Iterating it blocks until entries arrive: use a worker thread only.

        The call goes through the transport's stub, not the client method: the client method
        pre-fetches the first response before returning (so a tail waiting for its first entry
        could not be cancelled) and may retry with the request iterator already spent.
        """
        from google.cloud.logging_v2.types import TailLogEntriesRequest

        request = TailLogEntriesRequest(resource_names=[f"projects/{project}"], filter=filter_)
        call = f"TailLogEntries({project})"
        stub = guarded(call, lambda: self.clients.logging.transport.tail_log_entries)
        # the base transport types this stub as unary (one request); the gRPC one is bidi-streaming
        return TailStream(call, stub(iter([request])))  # type: ignore[arg-type]


class TailStream:
    """One TailLogEntries session; `cancel()` ends it at once, first entry or not."""

    def __init__(self, call: str, stream: Any):
        self._call = call
        self._stream = stream
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        cancel = getattr(self._stream, "cancel", None)
        if cancel is not None:
            cancel()

    def __iter__(self) -> Iterator[LogEntry]:
        from google.api_core import exceptions

        try:
            for response in self._stream:
                for proto in response.entries:
                    yield log_entry(proto)
        except Exception as exc:  # noqa: BLE001 - a broken stream becomes a typed error the tail retries on
            if self.cancelled:
                return
            if isinstance(exc, grpc_error_type()):
                exc = exceptions.from_grpc_error(exc)
            raise api_error(self._call, exc) from exc


def grpc_error_type() -> type:
    import grpc

    return grpc.RpcError


class LogTail:
    """A live tail in its own thread that reconnects after a broken stream, with backoff."""

    def __init__(
        self,
        logs: Logs,
        project: str,
        filter_: str,
        on_entry: Callable[[LogEntry], None],
        on_error: Callable[[ApiError], None] | None = None,
        max_backoff: float = 30.0,
    ):
        self._logs = logs
        self._project = project
        self._filter = filter_
        self._on_entry = on_entry
        self._on_error = on_error
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._stream: TailStream | None = None
        self._thread = threading.Thread(target=self._run, name=f"log-tail-{project}", daemon=True)
        self.reconnects = 0

    def start(self) -> LogTail:
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the session now (the stream is cancelled even while it waits for its first entry)."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.cancel()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the tail's thread to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._stream = self._logs.tail(self._project, self._filter)
                if self._stop.is_set():
                    self._stream.cancel()
                    return
                for entry in self._stream:
                    if self._stop.is_set():
                        return
                    backoff = 0.5
                    self._on_entry(entry)
            except ApiError as error:
                if self._on_error is not None and not self._stop.is_set():
                    self._on_error(error)
                if error.code == "RESOURCE_EXHAUSTED":  # session limit: the minute has to pass
                    backoff = max(backoff, QUOTA_BACKOFF_SECONDS)
            if self._stop.wait(backoff):
                return
            self.reconnects += 1
            backoff = min(self._max_backoff, backoff * 2)


# --------------------------------------------------------------------------------- quotas


class LogQuotaError(UnavailableError):
    """A log read not sent: this process's read budget, or the project's quota, is spent for now."""


def list_retry(deadline: float) -> Any:
    """Retries for ListLogEntries: never on RESOURCE_EXHAUSTED (a per-minute quota does not
    recover in seconds, and each retry spends it again)."""
    from google.api_core import exceptions, retry

    return retry.Retry(
        predicate=retry.if_exception_type(
            exceptions.ServiceUnavailable, exceptions.DeadlineExceeded, exceptions.InternalServerError
        ),
        initial=0.2, maximum=3.0, multiplier=2.0, timeout=deadline,
    )


class LogReadBudget:
    """ListLogEntries requests of one process for one project: at most `per_minute` in any
    sliding minute, and none for QUOTA_BACKOFF_SECONDS after the API answered RESOURCE_EXHAUSTED."""

    def __init__(self, project: str, per_minute: int = LOG_READS_PER_MINUTE,
                 monotonic: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.project = project
        self.per_minute = per_minute
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self.requests = 0  # sent, since this process started

    def _wait_needed(self, now: float) -> tuple[float, str]:
        while self._sent and self._sent[0] <= now - 60.0:
            self._sent.popleft()
        if now < self._blocked_until:
            until = datetime.now(UTC).timestamp() + (self._blocked_until - now)
            return self._blocked_until - now, (
                f"Cloud Logging answered RESOURCE_EXHAUSTED for project {self.project} (ListLogEntries: "
                f"{PROJECT_READ_QUOTA_PER_MINUTE} requests/min per project, not raisable); log reads paused until "
                f"{datetime.fromtimestamp(until, UTC).strftime('%H:%M:%S')} UTC"
            )
        if len(self._sent) >= self.per_minute:
            return self._sent[0] + 60.0 - now, (
                f"this console keeps ListLogEntries for project {self.project} under {self.per_minute} requests/min "
                f"(Cloud Logging allows {PROJECT_READ_QUOTA_PER_MINUTE}/min per project, shared by every reader)"
            )
        return 0.0, ""

    def acquire(self, call: str, max_wait: float) -> None:
        """Take one request's slot, waiting up to `max_wait` seconds for one; else LogQuotaError."""
        while True:
            with self._lock:
                now = self._monotonic()
                wait, why = self._wait_needed(now)
                if wait <= 0:
                    self._sent.append(now)
                    self.requests += 1
                    return
            if wait > max_wait:
                raise LogQuotaError(call, "RESOURCE_EXHAUSTED", f"{why}; next read possible in {wait:.0f} s",
                                    "log data on screen is kept until then; nothing to do")
            self._sleep(wait)
            max_wait -= wait

    def exhausted(self, call: str) -> LogQuotaError:
        """The API refused a read for quota: pause every read of the project for a whole minute."""
        with self._lock:
            self._blocked_until = self._monotonic() + QUOTA_BACKOFF_SECONDS
            _, why = self._wait_needed(self._monotonic())
        return LogQuotaError(call, "RESOURCE_EXHAUSTED", why,
                             f"retrying in {QUOTA_BACKOFF_SECONDS:.0f} s; other readers of the project share the quota")


def read_budget(clients: Clients, project: str) -> LogReadBudget:
    """The one budget of `project` for every Logs on these clients' connections (one process)."""
    budgets = clients.shared_state("log-read-budgets", dict)
    with clients.shared_lock:
        if project not in budgets:
            budgets[project] = LogReadBudget(project)
        return budgets[project]


# ----------------------------------------------------------------------------- shared tails


@dataclass
class _Subscriber:
    filter: str
    matches: Callable[[LogEntry], bool]
    on_entry: Callable[[LogEntry], None]
    on_error: Callable[[ApiError], None] | None


class TailSubscription:
    """One reader's share of its project's tail; `stop()` leaves it (the last one out closes the session)."""

    def __init__(self, hub: TailHub, key: int):
        self._hub = hub
        self._key = key

    @property
    def reconnects(self) -> int:
        tail = self._hub.tail
        return tail.reconnects if tail is not None else 0

    def stop(self) -> None:
        self._hub.unsubscribe(self._key)


class TailHub:
    """One live tail session per project per process, shared by every reader.

    Cloud Logging allows 10 tail sessions per project. Readers subscribe with their filter and a
    predicate saying which entries are theirs; the session's filter is the OR of theirs, and it is
    reopened (the old one cancelled for real) whenever the set of filters changes.
    """

    def __init__(self, logs: Logs, project: str):
        self.logs = logs
        self.project = project
        self._lock = threading.Lock()
        self._subscribers: dict[int, _Subscriber] = {}
        # What the tail's thread dispatches to: replaced whole under the lock, read without it, so
        # that stopping the old tail never waits on a thread that waits on the lock.
        self._current: tuple[_Subscriber, ...] = ()
        self._keys = itertools.count(1)
        self.tail: LogTail | None = None
        self.sessions_opened = 0

    def subscribe(self, filter_: str, matches: Callable[[LogEntry], bool], on_entry: Callable[[LogEntry], None],
                  on_error: Callable[[ApiError], None] | None = None) -> TailSubscription:
        with self._lock:
            key = next(self._keys)
            self._subscribers[key] = _Subscriber(filter_, matches, on_entry, on_error)
            self._reopen()
        return TailSubscription(self, key)

    def unsubscribe(self, key: int) -> None:
        with self._lock:
            if self._subscribers.pop(key, None) is not None:
                self._reopen()

    def _reopen(self) -> None:
        self._current = tuple(self._subscribers.values())
        old, self.tail = self.tail, None
        if old is not None:
            old.stop()
            old.join(0.5)  # cancelled: it ends within milliseconds, before the new session opens
        filters = sorted({s.filter for s in self._current})
        if not filters:
            return
        combined = filters[0] if len(filters) == 1 else " OR ".join(f"({f})" for f in filters)
        self.tail = LogTail(self.logs, self.project, combined, self._dispatch, self._error).start()
        self.sessions_opened += 1

    def _dispatch(self, entry: LogEntry) -> None:
        for subscriber in self._current:
            if subscriber.matches(entry):
                subscriber.on_entry(entry)

    def _error(self, error: ApiError) -> None:
        for subscriber in self._current:
            if subscriber.on_error is not None:
                subscriber.on_error(error)


def tail_hub(clients: Clients, project: str) -> TailHub:
    """The one TailHub of `project` on these clients' connections."""
    hubs = clients.shared_state("tail-hubs", dict)
    with clients.shared_lock:
        if project not in hubs:
            hubs[project] = TailHub(Logs(clients), project)
        return hubs[project]
# ------------------------------------------------------------------ Cloud Run's system log (issue 14)

SYSTEM_LOG_ID = "run.googleapis.com/varlog/system"


CONTAINER_START_TEXT = "Starting new instance"  # Cloud Run's INFO line for every container start


def system_log_filter(project: str, region: str, since: float, until: float | None = None,
                      service: str | None = None, *, starts: bool = False) -> str:
    """Cloud Run's own WARNING-or-worse lines about containers (OOM kills, terminations, crashes); with
    `starts`, its INFO lines for container starts instead."""
    parts = [
        f'logName="projects/{project}/logs/{SYSTEM_LOG_ID.replace("/", "%2F")}"',
        'resource.type="cloud_run_revision"',
        f'resource.labels.location="{region}"',
        f'textPayload:"{CONTAINER_START_TEXT}"' if starts else "severity>=WARNING",  # starts (INFO): by their text, whatever the severity
        f'timestamp>="{rfc3339(since)}"',
    ]
    if until is not None:
        parts.append(f'timestamp<"{rfc3339(until)}"')
    if service:
        parts.append(f'resource.labels.service_name="{service}"')
    return " AND ".join(parts)


def system_log_entries(logs: Logs, project: str, region: str, since: float, until: float | None = None, *,
                       service: str | None = None, limit: int = 500) -> list[LogEntry]:
    """The system log's container events in [since, until), oldest first: one ListLogEntries call
    (a few pages at most) for every service of a project and region, or one service."""
    return logs.list(project, system_log_filter(project, region, since, until, service), newest_first=False,
                     limit=limit)


def container_starts(logs: Logs, project: str, region: str, since: float, until: float, *, service: str,
                     limit: int = 2000) -> dict[str, int]:
    """Container starts per revision of `service` in [since, until), counted from Cloud Run's system log
    ("Starting new instance. Reason: …"): seconds behind, where Monitoring's startup counts are minutes
    behind. One ListLogEntries call per 1,000 starts (a step rarely has more than a few)."""
    entries = logs.list(project, system_log_filter(project, region, since, until, service, starts=True),
                        newest_first=False, limit=limit, page_size=1000)
    counts: dict[str, int] = {}
    for entry in entries:
        revision = entry.resource_labels.get("revision_name", "")
        counts[revision] = counts.get(revision, 0) + 1
    return counts
