"""The request log, live: one TailLogEntries per project, shared by every service watched, plus
ListLogEntries backfills (I/O; the counting is console/requestlog.py's).

Cloud Logging's limits (https://cloud.google.com/logging/quotas), which this respects:
- live tailing: at most 10 open sessions per project, and 60,000 entries per minute per
  session — so there is one tail per project (`feed_for`), whose filter names every watched
  service; entries it could not deliver come back as `suppression_info`, and the range they
  may belong to is unknown until a backfill covers it;
- ListLogEntries: 60 read requests per minute per project, shared with the console's other
  readers (audit, history, incident) — a backfill spends at most `LIST_CALLS_PER_MINUTE` of them
  (pages of 1,000 entries) and leaves the rest unknown rather than exhaust the quota.

The tail blocks until its first entry, so it lives in a worker thread; it reconnects after a
broken stream with backoff and backfills the gap (by receive time) it left.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.requestlog import BUCKET_SECONDS, RequestEntry, RequestLog

if TYPE_CHECKING:  # pragma: no cover
    from console.clock import Clock
    from console.gcp.clients import Clients

REQUESTS_LOG_ID = "run.googleapis.com%2Frequests"
LIST_CALLS_PER_MINUTE = 30  # half of ListLogEntries' 60/min/project quota
LIST_PAGE_SIZE = 1000
MAX_BACKOFF_SECONDS = 30.0  # real seconds between reconnects, at most


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ts(pb_ts: Any) -> float:
    return pb_ts.seconds + pb_ts.nanos / 1e9


def entry_of(pb: Any) -> RequestEntry | None:
    """A RequestEntry from a raw LogEntry protobuf (None if it is not a request log entry)."""
    if not pb.HasField("http_request") or not pb.http_request.status:
        return None
    labels = pb.resource.labels
    latency = pb.http_request.latency
    return RequestEntry(
        insert_id=pb.insert_id,
        timestamp=_ts(pb.timestamp),
        received=_ts(pb.receive_timestamp) if pb.HasField("receive_timestamp") else _ts(pb.timestamp),
        service=labels.get("service_name", ""),
        revision=labels.get("revision_name", ""),
        status=pb.http_request.status,
        latency_ms=(latency.seconds + latency.nanos / 1e9) * 1000.0,
        client=pb.http_request.remote_ip,
        instance=pb.labels.get("instanceId", ""),
    )


def request_log_filter(project: str, region: str, services: list[str]) -> str:
    names = " OR ".join(f'resource.labels.service_name = "{s}"' for s in sorted(services))
    return (f'logName = "projects/{project}/logs/{REQUESTS_LOG_ID}" AND resource.type = "cloud_run_revision" '
            f'AND resource.labels.location = "{region}" AND ({names})')


class ListBudget:
    """At most `per_minute` ListLogEntries calls in any minute of the clock."""

    def __init__(self, now: Callable[[], float], per_minute: int = LIST_CALLS_PER_MINUTE):
        self._per_minute = per_minute
        self._now = now
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._now()
            while self._calls and now - self._calls[0] >= 60.0:
                self._calls.popleft()
            if len(self._calls) >= self._per_minute:
                return False
            self._calls.append(now)
            return True


class RequestLogFeed:
    """The request log of one project (one region's services), live and backfilled.

    Live (`live=True`): a TailLogEntries worker, backfills at the start and after each reconnect.
    Pull (`live=False`, or while the tail cannot open): each `pull()` lists what arrived since the
    watermark — for a clock that moves only when told to (tests), where a live stream would race it.
    """

    def __init__(self, clients: Clients, project: str, region: str, clock: Clock, *, live: bool = True):
        self.clients = clients
        self.project = project
        self.region = region
        self.clock = clock
        self.live = live
        self.log = RequestLog()
        self.budget = ListBudget(clock.now)
        self._services: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._pending_since: float | None = None  # the tail's first backfill starts here
        self.tail_opened: float | None = None  # clock time the current tail opened
        self.error: str | None = None  # the latest failure of the tail or a backfill
        self.suppressed = 0
        self.reconnects = 0

    @property
    def services(self) -> list[str]:
        with self._lock:
            return sorted(self._services)

    # --- what to watch
    def watch(self, service: str, since: float) -> None:
        """Follow `service` from now on, with its entries since `since` (clock time) read back."""
        with self._lock:
            if service in self._services:
                return
            self._services.add(service)
            self._pending_since = since if self._pending_since is None else min(since, self._pending_since)
        # only this service's entries are being read back: the others' stay known (a rollout judged on one
        # of them is not held up when a view starts watching another)
        self.log.mark_unknown(since, math.inf, "the request log is being read back", service)
        # what has arrived already: shows at once whether entries flow (stable's own)
        self.backfill([service], since, clear=not self.live)
        if not self.live:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"request-log-{self.project}", daemon=True)
            self._thread.start()
        else:
            self._restart.set()
            self._cancel_stream()

    def pull(self) -> None:
        """Read what arrived since the watermark (pull mode, or while the tail is down)."""
        services = self.services
        if not services:
            return
        newest = self.log.newest_received
        if newest is None:
            since = self._pending_since if self._pending_since is not None else self.clock.now()
        else:
            since = newest - self.log.lag_bound() - BUCKET_SECONDS
        self.backfill(services, since)

    @property
    def tail_down(self) -> bool:
        return self.live and self.tail_opened is None and self.error is not None

    def stop(self) -> None:
        self._stop.set()
        self._cancel_stream()

    def _cancel_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            try:
                stream.cancel()
            except Exception:  # noqa: BLE001 - a stream that is already gone is cancelled
                pass

    # --- backfill
    def backfill(self, services: list[str], since: float, *, clear: bool = True, until: float | None = None) -> bool:
        """ListLogEntries of the services from `since` up to `until` (default now), everything received by
        now. With `clear`, success makes [since, ∞) known; failure (read quota spent, an API error) marks it unknown.

        Bounded at now: entries stamped later arrive by the tail (open before any backfill of its own)
        or by the next pull, and an open end chased the newest entries page after page for as long as
        a busy service (or a fast clock) wrote them quicker than they were read."""
        from google.cloud.logging_v2.types import ListLogEntriesRequest

        text = (request_log_filter(self.project, self.region, services)
                + f' AND timestamp >= "{_rfc3339(since)}" AND timestamp < "{_rfc3339(self.clock.now() if until is None else until)}"')
        request = ListLogEntriesRequest(resource_names=[f"projects/{self.project}"], filter=text,
                                        order_by="timestamp asc", page_size=LIST_PAGE_SIZE)
        try:
            while True:
                if not self.budget.take():
                    raise QuotaSpent(f"{LIST_CALLS_PER_MINUTE} ListLogEntries calls in the last minute "
                                     "(half of the project's 60/min quota)")
                response = self.clients.logging.list_log_entries(
                    request=request, retry=self.clients.retry(), timeout=self.clients.read_timeout
                )
                page = next(iter(response.pages))
                for pb in type(page).pb(page).entries:
                    entry = entry_of(pb)
                    if entry is not None:
                        self.log.add(entry)
                if not page.next_page_token:
                    break
                request.page_token = page.next_page_token
        except Exception as exc:  # noqa: BLE001 - any failure leaves the range unknown, with the reason
            self.error = f"reading the request log back failed: {_describe(exc)}"
            if clear:
                read = self._read_back(services)
                for service in read if read is not None else [None]:
                    self.log.mark_unknown(since, math.inf, self.error, service)
            return False
        if clear:
            self.log.mark_known(since, math.inf, self._read_back(services))
        return True

    def _read_back(self, services: list[str]) -> list[str] | None:
        """The services a read-back covered, or None when it covered every watched one."""
        return None if set(services) >= set(self.services) else services

    # --- the tail worker
    def _run(self) -> None:
        from google.cloud.logging_v2.types import TailLogEntriesRequest, TailLogEntriesResponse

        backoff = 0.5
        broke_at: float | None = None
        while not self._stop.is_set():
            self._restart.clear()
            services = self.services
            request = TailLogEntriesRequest(resource_names=[f"projects/{self.project}"],
                                            filter=request_log_filter(self.project, self.region, services))
            try:
                opened = self.clock.now()
                # blocks until the first entry arrives
                self._stream = self.clients.logging.tail_log_entries(iter([request]))
                self.tail_opened, self.error = opened, None
                # what arrived before the tail opened (at the start, or while it was down): read back
                with self._lock:
                    since, self._pending_since = self._pending_since, None
                if broke_at is not None:
                    gap = broke_at - self.log.lag_bound() - BUCKET_SECONDS
                    since = gap if since is None else min(since, gap)
                if since is not None:
                    self.backfill(services, since)
                for response in self._stream:
                    raw = TailLogEntriesResponse.pb(response)
                    for pb in raw.entries:
                        entry = entry_of(pb)
                        if entry is not None:
                            self.log.add(entry)
                    if len(raw.suppression_info):
                        self._suppressed(services, raw)
                    backoff = 0.5
                    if self._stop.is_set() or self._restart.is_set():
                        break
            except Exception as exc:  # noqa: BLE001 - a broken stream is retried; the reason is kept
                if self._stop.is_set() or "closed channel" in str(exc):
                    return
                if not self._restart.is_set():
                    self.error = f"the request log tail broke: {_describe(exc)}"
            finally:
                self._cancel_stream()
                self._stream = None
            if self._stop.is_set():
                return
            if self.tail_opened is not None:
                broke_at = self.clock.now()
                if not self._restart.is_set():
                    self.log.mark_unknown(broke_at - self.log.lag_bound() - BUCKET_SECONDS, math.inf,
                                          "the request log tail is reconnecting")
                # reopened for another service: nothing is unknown meanwhile — no entry arrives until the
                # new tail's read-back of the gap, in timestamp order, so the watermark never passes an
                # entry not yet read (entries still to come are younger than it, by the lag bound)
            self.tail_opened = None
            if self._restart.is_set():
                continue
            self.reconnects += 1
            if self._stop.wait(backoff):
                return
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)

    def _suppressed(self, services: list[str], raw: Any) -> None:
        """Entries the tail dropped (rate limit, not consumed): their range is unknown until read back."""
        dropped = sum(info.suppressed_count for info in raw.suppression_info)
        self.suppressed += dropped
        since = self.clock.now() - self.log.lag_bound() - BUCKET_SECONDS
        self.log.mark_unknown(since, math.inf, f"the tail suppressed {dropped:,} entries")
        threading.Thread(target=self.backfill, args=(services, since), daemon=True).start()


class QuotaSpent(Exception):
    """The feed's share of the ListLogEntries quota is spent for this minute."""


def _describe(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    name = code().name if callable(code) else type(exc).__name__
    return f"{name}: {str(exc)[:200]}"


_FEEDS: dict[tuple[int, str, str], RequestLogFeed] = {}
_FEEDS_LOCK = threading.Lock()


def feed_for(clients: Clients, project: str, region: str, clock: Clock) -> RequestLogFeed:
    """The one feed of this project and region for these clients (one live tail per project).
    Live on a clock that runs by itself; pull on one that moves only when told to (tests)."""
    if clock.real_seconds(1.0) <= 0:
        return RequestLogFeed(clients, project, region, clock, live=False)  # no tail to share
    key = (id(clients), project, region)  # a feed keeps its clients alive: the id stays theirs
    with _FEEDS_LOCK:
        feed = _FEEDS.get(key)
        if feed is None:
            feed = _FEEDS[key] = RequestLogFeed(clients, project, region, clock)
        return feed


def stop_feeds(clients: Clients) -> None:
    """Stop every feed of these clients (before closing them)."""
    with _FEEDS_LOCK:
        mine = [k for k in _FEEDS if k[0] == id(clients)]
        feeds = [_FEEDS.pop(k) for k in mine]
    for feed in feeds:
        feed.stop()
