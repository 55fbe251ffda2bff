"""Cloud Run's request log as the judge's source: entries → per-revision counts in short buckets.

Pure (no I/O, no clock reads): console/requestlog_feed.py feeds it from TailLogEntries and
ListLogEntries and tells it the time. What it guarantees:

- each entry counts once (deduplicated by insertId: a backfill overlaps the tail);
- a bucket is judged only once entries older than its end can no longer arrive: the
  *watermark* is the newest receiveTimestamp seen minus the ingestion lag bound, learnt from
  `receiveTimestamp − timestamp` of the entries themselves;
- a time range whose entries may be missing (the tail reported suppressed entries, the stream
  broke) is *unknown* until a backfill covers it: a bucket that overlaps it gives no sample,
  never a sample of zeros.

Buckets start at the step's start (entries carry their own timestamps, so a bucket never mixes
the previous step's traffic in), and carry per-client and per-instance counts of bad events so
that a judge can bound what any one client or instance contributes. Each client has a 5xx
allowance per revision for the whole step (`ClientAllowance`): a client's 5xx beyond it are the
bucket's `client_excess`, which the judge leaves out of the evidence — one client retrying a
failing call dozens of times over a minute is one 5xx, however many buckets it spans.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from console.judge import Counts, Sample

BUCKET_SECONDS = 10.0
LAG_FLOOR_SECONDS = 5.0  # the watermark trails the newest entry by at least this much
LAG_MARGIN_SECONDS = 2.0  # ... and by the largest recent lag plus this
LAG_MEMORY = 2000  # lags of this many recent entries bound the next ones
RETENTION_SECONDS = 3 * 3600.0  # entries older than this (by timestamp) are forgotten, needed or not
VIEW_RETENTION_SECONDS = 600.0  # a service nobody needs longer for: a screen's 5 minutes of buckets, with room
NEED_LAPSE_SECONDS = 600.0  # a reader's need lapses this long after it last renewed it (its rollout ended)
CLIENT_STEP_ALLOWANCE = 1  # 5xx any client may have on a revision in a step, counted as evidence ...
# ... plus one for each of its requests on that revision in the step so far that did not fail (so a
# heavy client, e.g. a load balancer's address, counts in full when a regression hits everyone)


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """What the judge needs of one `run.googleapis.com/requests` entry."""

    insert_id: str
    timestamp: float  # when the request came in (unix seconds)
    received: float  # receiveTimestamp: when Cloud Logging had it
    service: str
    revision: str
    status: int
    latency_ms: float
    client: str  # httpRequest.remoteIp
    instance: str  # labels.instanceId

    @property
    def lag(self) -> float:
        return self.received - self.timestamp


@dataclass
class ClientAllowance:
    """Each client's 5xx counted so far in the step on one revision, against its allowance.

    A client's 5xx counts while its counted 5xx are fewer than ``CLIENT_STEP_ALLOWANCE`` plus its
    requests that did not fail (in time order, from the step's start); beyond that it is excess.
    A retry storm (all its requests failing) counts one 5xx for the whole step, as one failing call
    would; a client that sees a regression like everyone else (mostly successes) counts in full.
    (An allowance of 3 let two retry storms on the candidate in one minute weigh six independent 5xx:
    in bench/judge.py bursts then added half again to the request log's false rollbacks; with 1 they
    add none.)
    """

    allowance: int = CLIENT_STEP_ALLOWANCE
    counted: dict[str, int] = field(default_factory=dict)
    ok: dict[str, int] = field(default_factory=dict)

    def is_excess(self, client: str, failed: bool) -> bool:
        """Record one request of `client`; True when it is a 5xx beyond the client's allowance."""
        if not failed:
            _bump(self.ok, client)
            return False
        if self.counted.get(client, 0) >= self.allowance + self.ok.get(client, 0):
            return True
        _bump(self.counted, client)
        return False


@dataclass
class RevisionBucket:
    """One revision in one bucket: counts, latencies, and who the bad events came from."""

    requests: int = 0
    errors: int = 0
    slow: int = 0  # of the warm requests
    client_excess: int = 0  # 5xx of clients beyond their step-wide allowance (see ClientAllowance)
    warm_requests: int = 0  # served by instances past their own warm-up (all, when instances are not told apart)
    latencies_ms: list[float] = field(default_factory=list)
    warm_latencies_ms: list[float] = field(default_factory=list)
    errors_by_client: dict[str, int] = field(default_factory=dict)
    errors_by_instance: dict[str, int] = field(default_factory=dict)
    slow_by_client: dict[str, int] = field(default_factory=dict)
    slow_by_instance: dict[str, int] = field(default_factory=dict)

    def add(self, entry: RequestEntry, slow_ms: float | None, allowance: ClientAllowance | None = None,
            warm: bool = True) -> None:
        """Count one entry; `allowance`: the revision's client allowances in the step (in time order);
        `warm`: its instance is past its warm-up (a cold start's slowness is not counted as slow)."""
        self.requests += 1
        self.latencies_ms.append(entry.latency_ms)
        failed = entry.status >= 500
        if allowance is not None and allowance.is_excess(entry.client, failed):
            self.client_excess += 1
        if failed:
            self.errors += 1
            _bump(self.errors_by_client, entry.client)
            _bump(self.errors_by_instance, entry.instance)
        if not warm:
            return
        self.warm_requests += 1
        self.warm_latencies_ms.append(entry.latency_ms)
        if slow_ms is not None and entry.latency_ms >= slow_ms:
            self.slow += 1
            _bump(self.slow_by_client, entry.client)
            _bump(self.slow_by_instance, entry.instance)

    @property
    def p95_ms(self) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def max_client_errors(self) -> int:
        """5xx of the one client with the most: a retry storm shows up here, not as many clients."""
        return max(self.errors_by_client.values(), default=0)

    @property
    def max_instance_errors(self) -> int:
        return max(self.errors_by_instance.values(), default=0)

    def counts(self, tail_ms: float | None) -> Counts:
        """The judge's counts; `tail_ms`: the tail threshold (tail_factor × the slow threshold)."""
        tail = sum(1 for ms in self.warm_latencies_ms if ms >= tail_ms) if tail_ms is not None else 0
        return Counts(self.requests, self.errors, self.slow, self.p95_ms, tail, self.max_client_errors,
                      self.client_excess, self.warm_requests)


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


@dataclass(frozen=True)
class Bucket:
    start: float
    end: float
    candidate: RevisionBucket
    stable: RevisionBucket

    def sample(self, tail_ms: float | None) -> Sample:
        return Sample(self.start, self.end, self.candidate.counts(tail_ms), self.stable.counts(tail_ms))


@dataclass(frozen=True)
class UnknownRange:
    """Entries with timestamps in [start, end) may be missing, and why: of one service (one being read
    back since it was first watched) or, with `service` None, of every service the tail follows."""

    start: float
    end: float
    reason: str
    service: str | None = None

    def concerns(self, service: str | None) -> bool:
        return service is None or self.service is None or self.service == service

    def overlaps(self, start: float, end: float) -> bool:
        return self.start < end and start < self.end


def complete_buckets(start: float, until: float, bucket_seconds: float = BUCKET_SECONDS) -> int:
    """How many buckets [start + k·b, start + (k+1)·b) end by `until` (the watermark)."""
    return max(0, math.floor((until - start) / bucket_seconds + 1e-9))


def step_buckets(
    entries: Iterable[RequestEntry],
    candidate: str,
    stable: str,
    start: float,
    until: float,
    slow_ms: float | None,
    unknown: Iterable[UnknownRange] = (),
    bucket_seconds: float = BUCKET_SECONDS,
    instance_warmup: float = 0.0,
) -> tuple[list[Bucket], list[UnknownRange]]:
    """Buckets [start + k·b, start + (k+1)·b) that end by `until` (the watermark), oldest first.

    A request on an instance within `instance_warmup` seconds of that instance's first entry (of those
    given: pass them from `instance_warmup` before `start`, so an instance serving before the step is
    already warm) counts for 5xx and the p95 limit, not as slow: its slowness is a cold start's.

    A bucket with no request of either revision is left out (as Monitoring leaves out a window
    with no points); one that overlaps an unknown range is left out and its range returned.
    Entries are counted in time order so that each client's step-wide 5xx allowance
    (`ClientAllowance`) is spent in the order its requests came; the allowance keeps running
    across a bucket left out as unknown (its known entries are still the client's).
    """
    count = complete_buckets(start, until, bucket_seconds)
    if count == 0:
        return [], []
    sides: list[tuple[RevisionBucket, RevisionBucket]] = [(RevisionBucket(), RevisionBucket()) for _ in range(count)]
    end = start + count * bucket_seconds
    allowances = (ClientAllowance(), ClientAllowance())
    first_seen: dict[tuple[str, str], float] = {}  # (revision, instance) → its first entry's timestamp
    for entry in sorted(entries, key=lambda e: (e.timestamp, e.insert_id)):
        born = first_seen.setdefault((entry.revision, entry.instance), entry.timestamp)
        if not start <= entry.timestamp < end:
            continue
        k = min(count - 1, int((entry.timestamp - start) // bucket_seconds))
        warm = entry.timestamp - born >= instance_warmup
        if entry.revision == candidate:
            sides[k][0].add(entry, slow_ms, allowances[0], warm)
        elif entry.revision == stable:
            sides[k][1].add(entry, slow_ms, allowances[1], warm)
    unknown = list(unknown)
    buckets: list[Bucket] = []
    skipped: list[UnknownRange] = []
    for k, (cand, stab) in enumerate(sides):
        lo = start + k * bucket_seconds
        hi = lo + bucket_seconds
        hit = next((u for u in unknown if u.overlaps(lo, hi)), None)
        if hit is not None:
            skipped.append(UnknownRange(lo, hi, hit.reason))
            continue
        if cand.requests or stab.requests:
            buckets.append(Bucket(lo, hi, cand, stab))
    return buckets, skipped


class RequestLog:
    """The request log entries of the watched services, as far as they have arrived.

    Thread-safe: a tail worker adds, the engine reads.
    """

    def __init__(self, retention_seconds: float = RETENTION_SECONDS, view_retention_seconds: float = VIEW_RETENTION_SECONDS):
        self._lock = threading.Lock()
        self._retention = retention_seconds
        self._view_retention = view_retention_seconds
        self._needs: dict[str, tuple[float, float]] = {}  # service → (needed since, renewed at): the engine's step
        self._kept_from: dict[str, float] = {}  # service → the horizon its entries were last pruned to
        self._keys: dict[str, list[tuple[float, str]]] = {}  # service → sorted (timestamp, insert_id)
        self._entries: dict[str, list[RequestEntry]] = {}
        self._ids: set[str] = set()
        self._lags: deque[float] = deque(maxlen=LAG_MEMORY)
        self._unknown: list[UnknownRange] = []
        self._last_received: dict[tuple[str, str], float] = {}  # (service, revision) → newest receiveTimestamp
        self.newest_received: float | None = None
        self.duplicates = 0

    # --- writing
    def add(self, entry: RequestEntry) -> bool:
        """Store an entry; False when its insertId was seen already."""
        with self._lock:
            if entry.insert_id in self._ids:
                self.duplicates += 1
                return False
            self._ids.add(entry.insert_id)
            key = (entry.timestamp, entry.insert_id)
            keys = self._keys.setdefault(entry.service, [])
            index = bisect.bisect_right(keys, key)
            keys.insert(index, key)
            self._entries.setdefault(entry.service, []).insert(index, entry)
            self._lags.append(max(0.0, entry.lag))
            seen = (entry.service, entry.revision)
            self._last_received[seen] = max(entry.received, self._last_received.get(seen, entry.received))
            if self.newest_received is None or entry.received > self.newest_received:
                self.newest_received = entry.received
            return True

    def mark_unknown(self, start: float, end: float, reason: str, service: str | None = None) -> None:
        """Entries in [start, end) may be missing: of `service`, or of every service (None)."""
        with self._lock:
            self._unknown.append(UnknownRange(start, end, reason, service))

    def mark_known(self, start: float, end: float, services: Collection[str] | None = None) -> None:
        """A backfill covered [start, end): unknown ranges inside it are filled — only those of `services`
        when it read only those (a range of every service needs a read-back of every service)."""
        with self._lock:
            kept: list[UnknownRange] = []
            for u in self._unknown:
                covered = services is None or (u.service is not None and u.service in services)
                if covered and u.start >= start and u.end <= end:
                    continue
                kept.append(u)
            self._unknown = kept

    def need(self, service: str, since: float, now: float) -> tuple[float, float] | None:
        """A reader (the engine judging a step) needs `service`'s entries from `since` on; renewed on each
        read, the need lapses `NEED_LAPSE_SECONDS` after the last one, so no reader has to say it is done.
        Returns the part of it already forgotten (a rollout resumed after a long pause), which the reader
        must read back or mark unknown: a forgotten range is never zero traffic."""
        with self._lock:
            self._needs[service] = (since, now)
            kept = self._kept_from.get(service, -math.inf)
            if since >= kept:
                return None
            self._kept_from[service] = since
            return since, kept

    def prune(self, now: float) -> None:
        """Forget entries older than what a reader needs (by timestamp): a service only the screens
        watch keeps `view_retention_seconds`, one a step is judged on keeps the step's; none over the retention."""
        horizon = now - self._retention
        with self._lock:
            self._needs = {k: v for k, v in self._needs.items() if now - v[1] < NEED_LAPSE_SECONDS}
            for service, keys in self._keys.items():
                since = self._needs[service][0] if service in self._needs else math.inf
                kept = self._kept_from[service] = max(self._kept_from.get(service, -math.inf),
                                                       horizon, min(now - self._view_retention, since))
                cut = bisect.bisect_left(keys, (kept, ""))
                if cut:
                    for entry in self._entries[service][:cut]:
                        self._ids.discard(entry.insert_id)
                    del keys[:cut]
                    del self._entries[service][:cut]
            self._unknown = [u for u in self._unknown if u.end > horizon]

    # --- reading
    def lag_bound(self) -> float:
        """How late an entry may still arrive: the largest recent lag plus a margin."""
        with self._lock:
            worst = max(self._lags, default=0.0)
        return max(LAG_FLOOR_SECONDS, worst + LAG_MARGIN_SECONDS)

    def watermark(self) -> float | None:
        """Entries with a timestamp before this have all arrived (None before the first entry)."""
        if self.newest_received is None:
            return None
        return self.newest_received - self.lag_bound()

    def unknown(self, service: str | None = None) -> list[UnknownRange]:
        """The ranges whose entries may be missing: all of them, or those that concern `service`."""
        with self._lock:
            return [u for u in self._unknown if u.concerns(service)]

    def entries(self, service: str, start: float, end: float) -> list[RequestEntry]:
        """The service's entries with start ≤ timestamp < end, oldest first."""
        with self._lock:
            keys = self._keys.get(service, [])
            i = bisect.bisect_left(keys, (start, ""))
            j = bisect.bisect_left(keys, (end, ""))
            return self._entries.get(service, [])[i:j]

    def last_received(self, service: str, revision: str | None = None) -> float | None:
        """When the newest entry of the service (or of one of its revisions) was received."""
        with self._lock:
            if revision is not None:
                return self._last_received.get((service, revision))
            times = [t for (svc, _), t in self._last_received.items() if svc == service]
        return max(times, default=None)

    def recent(self, service: str, buckets: int = 30) -> RecentTraffic | None:
        """The service's last `buckets` buckets up to the watermark; None while none of its entries came."""
        watermark = self.watermark()
        if watermark is None or self.last_received(service) is None:
            return None
        start = watermark - (buckets + 1) * BUCKET_SECONDS
        return recent_traffic(self.entries(service, start, watermark), watermark, buckets, self.unknown(service))

    def step_buckets(
        self, service: str, candidate: str, stable: str, start: float, slow_ms: float | None,
        bucket_seconds: float = BUCKET_SECONDS, instance_warmup: float = 0.0,
    ) -> tuple[list[Bucket], list[UnknownRange]]:
        """The step's complete buckets up to the watermark (see `step_buckets`)."""
        watermark = self.watermark()
        if watermark is None or watermark <= start:
            return [], []
        return step_buckets(self.entries(service, start - instance_warmup, watermark), candidate, stable, start,
                            watermark, slow_ms, self.unknown(service), bucket_seconds, instance_warmup)


@dataclass(frozen=True)
class RecentTraffic:
    """The request log's last few minutes per revision, in buckets, for the service screen: its
    sparklines move every bucket instead of every Monitoring minute, its figures are seconds old."""

    until: float  # counts are complete up to here (the watermark, on a bucket edge)
    bucket_seconds: float
    errors: dict[str, list[float]]  # revision → 5xx % per bucket that had requests, oldest first
    p95: dict[str, list[float]]  # revision → p95 ms per bucket that had requests
    last_minute: dict[str, tuple[float, float | None, float | None]]  # revision → (req/s, 5xx fraction, p95 ms)
    unknown: int = 0  # buckets left out because their entries may be missing

    def service_last_minute(self) -> tuple[float, float | None] | None:
        """Every revision together over the last minute: (req/s, 5xx fraction); None without a known minute."""
        if not self.last_minute:
            return None
        rate = sum(r for r, _, _ in self.last_minute.values())
        errors = sum(r * e for r, e, _ in self.last_minute.values() if e is not None)
        return rate, errors / rate if rate else None


def recent_traffic(
    entries: Iterable[RequestEntry],
    until: float,
    buckets: int = 30,
    unknown: Iterable[UnknownRange] = (),
    bucket_seconds: float = BUCKET_SECONDS,
) -> RecentTraffic:
    """Per revision, `buckets` buckets of `bucket_seconds` ending on the last bucket edge at or before
    `until`; buckets without requests or overlapping an unknown range are left out (never zeros).
    The last minute's figures are over its known buckets."""
    end = math.floor(until / bucket_seconds + 1e-9) * bucket_seconds
    start = end - buckets * bucket_seconds
    per: dict[str, list[RevisionBucket]] = {}
    for entry in entries:
        if start <= entry.timestamp < end:
            k = min(buckets - 1, int((entry.timestamp - start) // bucket_seconds))
            per.setdefault(entry.revision, [RevisionBucket() for _ in range(buckets)])[k].add(entry, None)
    unknown = list(unknown)
    missing = {k for k in range(buckets)
               if any(u.overlaps(start + k * bucket_seconds, start + (k + 1) * bucket_seconds) for u in unknown)}
    minute = range(max(0, buckets - round(60 / bucket_seconds)), buckets)
    errors: dict[str, list[float]] = {}
    p95: dict[str, list[float]] = {}
    last_minute: dict[str, tuple[float, float | None, float | None]] = {}
    for revision, row in per.items():
        known = [(k, b) for k, b in enumerate(row) if k not in missing and b.requests]
        errors[revision] = [100.0 * b.errors / b.requests for _, b in known]
        p95[revision] = [b.p95_ms for _, b in known if b.p95_ms is not None]
        recent = RevisionBucket()
        seconds = bucket_seconds * sum(1 for k in minute if k not in missing)
        for k, b in known:
            if k in minute:
                recent.requests += b.requests
                recent.errors += b.errors
                recent.latencies_ms.extend(b.latencies_ms)
        if seconds:  # no request in a known minute is 0 req/s; an unknown minute has no figures
            last_minute[revision] = (recent.requests / seconds,
                                     recent.errors / recent.requests if recent.requests else None, recent.p95_ms)
    return RecentTraffic(end, bucket_seconds, errors, p95, last_minute, len(missing))
