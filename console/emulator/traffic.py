"""Synthetic request traffic: per revision, per tick of clock time, computed on demand.

For tick k of service S (10 s of clock time; 60 s for history more than an hour older than the
emulator's start): total requests ~ Poisson(rate × tick), split over revisions by the served
traffic split (multinomial); per revision 5xx ~ Binomial(error_rate), 4xx ~ Binomial(client
error rate), the rest 2xx; latency histograms over Cloud Run's `request_latencies` buckets drawn
from the lognormal CDF; instances, billable instance time, cold starts and CPU/memory
utilization from the request volume (Little's law, concurrency 80).

Every tick is seeded from (fleet seed, service, revision, tick), so any tick can be computed at
any time, in any order, with the same result, and is cached. A tick is only ever computed after
it has ended (its traffic split is history by then). Standard library only.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from console.emulator import saturation

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.fleet import Behavior, Fleet, SimRevision, SimService

TICK_SECONDS = 10
COARSE_TICK_SECONDS = 60
FINE_HISTORY_SECONDS = 3600  # before fleet start − this, ticks are 60 s
HISTORY_SECONDS = 25 * 3600  # no traffic is simulated before fleet start − this
METRIC_DELAY_SECONDS = 120.0  # a tick becomes visible to Monitoring this long after it ends
CONCURRENCY = 80  # Cloud Run's default max concurrent requests per instance
TARGET_CONCURRENCY = 0.6 * CONCURRENCY  # the autoscaler aims at 60 % of it
IDLE_KEEP_SECONDS = 15 * 60  # idle instances stay this long after traffic ends
CACHE_TICKS = 30_000

# Cloud Run's request_latencies (and startup_latencies) layout: exponential buckets.
LATENCY_BUCKETS = 100
LATENCY_GROWTH = 1.4
LATENCY_SCALE = 1.0  # ms
# cpu/memory utilizations: linear buckets of 1 % over 0..1
UTIL_BUCKETS = 100
UTIL_WIDTH = 0.01
UTIL_OFFSET = 0.0

CLASSES = ("2xx", "4xx", "5xx")
_CODES_5XX = ((500, 0.65), (503, 0.25), (502, 0.10))
_CODES_5XX_CRASH = ((503, 0.85), (500, 0.10), (502, 0.05))
_CODES_4XX = ((404, 0.60), (400, 0.25), (429, 0.15))


# ---------------------------------------------------------------------------------------------
# Distributions


class Dist:
    """A Monitoring distribution value: count, mean, sum of squared deviation, bucket counts.

    `layout` names the bucket options ("latency" or "util"); buckets are stored sparsely as a
    first index and a list of counts (index 0 is the underflow bucket, as in the API).
    """

    __slots__ = ("layout", "count", "mean", "ssd", "first", "counts")

    def __init__(self, layout: str, count: int = 0, mean: float = 0.0, ssd: float = 0.0,
                 first: int = 0, counts: list[int] | None = None):
        self.layout = layout
        self.count = count
        self.mean = mean
        self.ssd = ssd
        self.first = first
        self.counts = counts if counts is not None else []

    @classmethod
    def from_buckets(cls, layout: str, buckets: dict[int, int]) -> Dist:
        """A distribution of values sitting at their buckets' representative points."""
        if not buckets:
            return cls(layout)
        lo, hi = min(buckets), max(buckets)
        counts = [buckets.get(i, 0) for i in range(lo, hi + 1)]
        rep = _representative(layout)
        n = sum(counts)
        mean = sum(c * rep[lo + i] for i, c in enumerate(counts) if c) / n
        ssd = sum(c * (rep[lo + i] - mean) ** 2 for i, c in enumerate(counts) if c)
        return cls(layout, n, mean, ssd, lo, counts)

    @classmethod
    def of_values(cls, layout: str, values: list[float]) -> Dist:
        if not values:
            return cls(layout)
        buckets: dict[int, int] = {}
        for v in values:
            b = bucket_index(layout, v)
            buckets[b] = buckets.get(b, 0) + 1
        n = len(values)
        mean = sum(values) / n
        ssd = sum((v - mean) ** 2 for v in values)
        lo, hi = min(buckets), max(buckets)
        return cls(layout, n, mean, ssd, lo, [buckets.get(i, 0) for i in range(lo, hi + 1)])

    def copy(self) -> Dist:
        return Dist(self.layout, self.count, self.mean, self.ssd, self.first, list(self.counts))

    def merge(self, other: Dist) -> Dist:
        """Add `other` into self (in place; returns self): counts bucket-wise, mean and SSD exactly."""
        if other.count == 0:
            return self
        if self.count == 0:
            self.count, self.mean, self.ssd = other.count, other.mean, other.ssd
            self.first, self.counts = other.first, list(other.counts)
            return self
        n = self.count + other.count
        delta = other.mean - self.mean
        self.ssd = self.ssd + other.ssd + delta * delta * self.count * other.count / n
        self.mean = self.mean + delta * other.count / n
        self.count = n
        lo = min(self.first, other.first)
        hi = max(self.first + len(self.counts), other.first + len(other.counts))
        merged = [0] * (hi - lo)
        for i, c in enumerate(self.counts):
            merged[self.first - lo + i] += c
        for i, c in enumerate(other.counts):
            merged[other.first - lo + i] += c
        self.first, self.counts = lo, merged
        return self

    def bucket_counts(self) -> list[int]:
        """Dense counts from the underflow bucket up to the last non-empty one (trailing zeros trimmed)."""
        if not self.count:
            return []
        out = [0] * self.first + list(self.counts)
        while out and out[-1] == 0:
            out.pop()
        return out

    def __repr__(self) -> str:
        return f"Dist({self.layout}, n={self.count}, mean={self.mean:.3g})"


@cache
def _bounds(layout: str) -> tuple[float, ...]:
    if layout == "util":
        return tuple(UTIL_OFFSET + UTIL_WIDTH * i for i in range(UTIL_BUCKETS + 1))
    return tuple(LATENCY_SCALE * LATENCY_GROWTH**i for i in range(LATENCY_BUCKETS + 1))


@cache
def _representative(layout: str) -> tuple[float, ...]:
    b = _bounds(layout)
    if layout == "util":
        mids = [b[0] - UTIL_WIDTH / 2] + [(b[i] + b[i + 1]) / 2 for i in range(len(b) - 1)] + [b[-1] + UTIL_WIDTH / 2]
    else:
        mids = [b[0] / 2] + [math.sqrt(b[i] * b[i + 1]) for i in range(len(b) - 1)] + [b[-1] * 1.2]
    return tuple(mids)


def bucket_index(layout: str, value: float) -> int:
    """The API's bucket index for a value: 0 underflow, 1..N finite, N+1 overflow."""
    return bisect.bisect_right(_bounds(layout), value)


@lru_cache(maxsize=4096)
def _lognormal_buckets(median_ms: float, sigma: float) -> tuple[tuple[int, float], ...]:
    """(bucket index, probability) of a lognormal latency over the latency layout, tails cut at 1e-7."""
    bounds = _bounds("latency")
    mu = math.log(median_ms)
    sigma = max(sigma, 1e-3)

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-(math.log(x) - mu) / (sigma * math.sqrt(2.0)))

    cdfs = [cdf(b) for b in bounds]
    probs = [cdfs[0]] + [cdfs[i + 1] - cdfs[i] for i in range(len(bounds) - 1)] + [1.0 - cdfs[-1]]
    kept = [(i, p) for i, p in enumerate(probs) if p > 1e-7]
    total = sum(p for _, p in kept)
    return tuple((i, p / total) for i, p in kept)


# ---------------------------------------------------------------------------------------------
# Sampling (standard library only, fast enough to compute thousands of ticks per query)


def poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, prod = math.exp(-lam), 0, rng.random()
        while prod > limit:
            k += 1
            prod *= rng.random()
        return k
    return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))


def binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    if n <= 25:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean = n * p
    if mean < 12:
        # inversion: walk the pmf from 0 (expected O(mean) steps)
        q = 1.0 - p
        pmf = q**n
        if pmf <= 0.0:
            return max(0, min(n, int(round(rng.gauss(mean, math.sqrt(mean * q))))))
        u = rng.random()
        k, cdf, ratio = 0, pmf, p / q
        while u > cdf and k < n:
            pmf *= (n - k) / (k + 1) * ratio
            k += 1
            cdf += pmf
        return k
    return max(0, min(n, int(round(rng.gauss(mean, math.sqrt(mean * (1.0 - p)))))))


def multinomial(rng: random.Random, n: int, probs: list[float]) -> list[int]:
    out = [0] * len(probs)
    remaining, mass = n, sum(probs)
    for i, p in enumerate(probs):
        if remaining <= 0:
            break
        if i == len(probs) - 1 or mass <= p:
            out[i] = remaining
            break
        k = binomial(rng, remaining, p / mass)
        out[i] = k
        remaining -= k
        mass -= p
    return out


def _latency_dist(rng: random.Random, n: int, median_ms: float, sigma: float) -> Dist:
    buckets = _lognormal_buckets(round(median_ms, 1), round(sigma, 3))
    counts = multinomial(rng, n, [p for _, p in buckets])
    return Dist.from_buckets("latency", {buckets[i][0]: c for i, c in enumerate(counts) if c})


def _lognormal_mean_s(median_ms: float, sigma: float) -> float:
    return median_ms * math.exp(sigma * sigma / 2) / 1000.0


# ---------------------------------------------------------------------------------------------
# Ticks


@dataclass
class RevisionTick:
    """What one revision did during one tick."""

    revision: str
    start: float
    end: float
    codes: dict[int, int] = field(default_factory=dict)  # response code → requests
    latency: dict[str, Dist] = field(default_factory=dict)  # response class → latency (ms)
    active_instances: int = 0
    idle_instances: int = 0
    billable_seconds: float = 0.0
    startup: Dist | None = None  # cold starts (ms)
    cpu: Dist | None = None  # utilization samples of active instances, 0..1
    memory: Dist | None = None
    oom_kills: tuple[float, ...] = ()  # clock times its instances were killed for exceeding their memory limit
    crashes: int = 0  # container exits of a crash-looping revision

    @property
    def requests(self) -> int:
        return sum(self.codes.values())

    def by_class(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for code, n in self.codes.items():
            key = f"{code // 100}xx"
            out[key] = out.get(key, 0) + n
        return out

    @property
    def errors(self) -> int:
        return sum(n for code, n in self.codes.items() if code >= 500)

    @property
    def has_instances(self) -> bool:
        return self.active_instances + self.idle_instances > 0


@dataclass
class ServiceTick:
    """One tick of one service: every revision that had requests or instances."""

    service: str
    start: float
    end: float
    requests: int
    revisions: dict[str, RevisionTick]

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Traffic:
    """Synthetic traffic of a `Fleet`, per revision and tick, computed lazily and cached.

    `ticks(service, after, until)` is the one accessor the Monitoring and Logging emulators use.
    """

    def __init__(self, fleet: Fleet, delay: float | None = None):
        self.fleet = fleet
        if delay is None:
            delay = getattr(fleet, "metric_delay", None)
            spec = getattr(fleet, "spec", None)
            if delay is None and spec is not None:
                delay = getattr(spec, "metric_delay", None)
        self.delay = float(METRIC_DELAY_SECONDS if delay is None else delay)
        started = float(getattr(fleet, "started", None) or fleet.clock.now())
        self.started = started
        # fine ticks from here on; coarse (60 s) ticks before; nothing before history_start
        self.fine_from = math.floor((started - FINE_HISTORY_SECONDS) / COARSE_TICK_SECONDS) * COARSE_TICK_SECONDS
        self.history_start = math.floor((started - HISTORY_SECONDS) / COARSE_TICK_SECONDS) * COARSE_TICK_SECONDS
        self._cache: OrderedDict[tuple, ServiceTick] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # ticks computed (not served from the cache), for benchmarks

    # --- time ---
    def now(self) -> float:
        return self.fleet.clock.now()

    def visible_until(self, now: float | None = None) -> float:
        """Ticks ending at or before this time are visible to Monitoring (metric delay)."""
        return (self.now() if now is None else now) - self.delay

    def tick_bounds(self, after: float, until: float) -> list[tuple[float, float]]:
        """(start, end) of every tick whose end lies in (after, until], oldest first."""
        after = max(after, self.history_start)
        if until <= after:
            return []
        out: list[tuple[float, float]] = []
        coarse_until = min(until, self.fine_from)
        if coarse_until > after:
            k = math.floor(after / COARSE_TICK_SECONDS) + 1  # first end > after
            while k * COARSE_TICK_SECONDS <= coarse_until:
                end = k * COARSE_TICK_SECONDS
                out.append((end - COARSE_TICK_SECONDS, end))
                k += 1
        fine_after = max(after, self.fine_from)
        if until > fine_after:
            k = math.floor(fine_after / TICK_SECONDS) + 1
            while k * TICK_SECONDS <= until:
                end = k * TICK_SECONDS
                out.append((end - TICK_SECONDS, end))
                k += 1
        return out

    # --- access ---
    def ticks(self, service: SimService, after: float, until: float, *, in_progress: bool = False) -> list[ServiceTick]:
        """The service's ticks ending in (after, until], oldest first; never beyond now.

        `in_progress`: also the tick under way once its middle has passed. A tick's inputs (rate, split,
        behaviour) are read at its middle, so from then on it is final; the request log lists its
        entries as they are received, a few seconds after each request, not after the tick.
        """
        until = min(until, self.now() + (TICK_SECONDS / 2 if in_progress else 0.0))
        bounds = self.tick_bounds(after, until)
        if not bounds:
            return []
        key0 = (service.project, service.region, service.name)
        out: list[ServiceTick] = []
        missing: list[tuple[int, tuple[float, float]]] = []
        with self._lock:
            for i, (start, end) in enumerate(bounds):
                hit = self._cache.get(key0 + (start, end))
                if hit is None:
                    missing.append((i, (start, end)))
                    out.append(None)  # type: ignore[arg-type]
                else:
                    self._cache.move_to_end(key0 + (start, end))
                    out.append(hit)
        if missing:
            self.fleet.services()  # lets the fleet apply what the clock says happened (reconciled updates)
            with self.fleet.lock:
                history = service.split_changes()
                revisions = dict(service.revisions)
            computed = [(i, self._compute(service, revisions, history, start, end)) for i, (start, end) in missing]
            with self._lock:
                for i, tick in computed:
                    out[i] = tick
                    self._cache[key0 + (tick.start, tick.end)] = tick
                self.computed += len(computed)
                while len(self._cache) > CACHE_TICKS:
                    self._cache.popitem(last=False)
        return out

    def revision_counts(self, service: SimService, revision: str, after: float, until: float) -> dict[str, int]:
        """Requests per response class served by one revision over ticks ending in (after, until]."""
        out: dict[str, int] = {}
        for tick in self.ticks(service, after, until):
            rt = tick.revisions.get(revision)
            if rt is not None:
                for cls, n in rt.by_class().items():
                    out[cls] = out.get(cls, 0) + n
        return out

    # --- the simulation ---
    def _seed(self, service: SimService, revision: str, start: float, end: float) -> str:
        return f"{self.fleet.seed}/{service.project}/{service.region}/{service.name}/{revision}/{int(start)}/{int(end)}"

    def _compute(
        self,
        service: SimService,
        revisions: dict[str, SimRevision],
        history: list[tuple[float, dict[str, int]]],
        start: float,
        end: float,
    ) -> ServiceTick:
        seconds = end - start
        mid = start + seconds / 2
        rng = random.Random(self._seed(service, "", start, end))
        rate = max(0.0, service.rate_at(mid))
        total = poisson(rng, rate * seconds)
        split = {name: share for name, share in service.split_at(mid).items() if share > 0 and name in revisions}
        names = sorted(split)
        counts = multinomial(rng, total, [split[n] for n in names]) if names else []
        served = dict(zip(names, counts))
        out: dict[str, RevisionTick] = {}
        for name, rev in revisions.items():
            if rev.create_time > mid:  # created later in the tick: from the next one (the tick is final at mid)
                continue
            share = split.get(name, 0.0)
            idle_from = None if share > 0 else _idle_instances(service, rev, history, mid, rate)
            if share <= 0 and not idle_from:
                continue
            out[name] = self._revision_tick(service, rev, start, end, rate, share, served.get(name, 0), idle_from or 0, history)
        return ServiceTick(service.name, start, end, total, out)

    def _revision_tick(
        self,
        service: SimService,
        rev: SimRevision,
        start: float,
        end: float,
        rate: float,
        share: float,
        n: int,
        idle_left: int,
        history: list[tuple[float, dict[str, int]]],
    ) -> RevisionTick:
        seconds = end - start
        mid = start + seconds / 2
        b: Behavior = rev.behavior_at(mid)
        rng = random.Random(self._seed(service, rev.name, start, end))
        tick = RevisionTick(rev.name, start, end)
        if share <= 0:
            tick.idle_instances = idle_left
            return tick

        # responses (OOM kills: console/emulator/saturation.py)
        kills = saturation.oom_kills(rev, b, start, end, _active_for(rate * share, _lognormal_mean_s(
            b.latency_median_ms, b.latency_sigma)), n)
        e5 = min(n, binomial(rng, n, b.error_rate) + kills.failed)
        p4 = b.client_error_rate / max(1e-9, 1.0 - b.error_rate)
        e4 = binomial(rng, n - e5, min(1.0, p4))
        ok = n - e5 - e4
        codes: dict[int, int] = {}
        if ok:
            codes[200] = ok
        for total, mix in ((e5, _CODES_5XX_CRASH if b.crash_looping else _CODES_5XX), (e4, _CODES_4XX)):
            if total:
                for (code, _), c in zip(mix, multinomial(rng, total, [p for _, p in mix])):
                    if c:
                        codes[code] = c
        tick.codes = codes

        # latency per response class
        median, sigma = b.latency_median_ms, b.latency_sigma
        if ok:
            tick.latency["2xx"] = _latency_dist(rng, ok, median, sigma)
        if e4:
            tick.latency["4xx"] = _latency_dist(rng, e4, max(1.0, median * 0.3), sigma)
        if e5:
            if b.crash_looping:
                tick.latency["5xx"] = _latency_dist(rng, e5, 8.0, 0.8)
            else:
                tick.latency["5xx"] = _latency_dist(rng, e5, median * 1.5, sigma + 0.2)

        # instances (Little's law on the expected load; the previous tick's for cold starts)
        mean_s = _lognormal_mean_s(median, sigma)
        active = _active_for(rate * share, mean_s)
        prev_mid = mid - seconds
        prev_share = _share_at(history, rev.name, prev_mid)
        prev_active = _active_for(max(0.0, service.rate_at(prev_mid)) * prev_share, mean_s) if prev_share > 0 else 0
        startups = max(0, active - prev_active)
        if b.crash_looping:
            tick.crashes = rng.randint(1, 3)
            startups += tick.crashes
            active = max(1, active - rng.randint(0, 1))
        tick.active_instances = active
        tick.idle_instances = 1 if rng.random() < 0.3 else 0
        in_flight = n * (mean_s if n else 0.0) / seconds
        busy = 1.0 - math.exp(-in_flight / active) if in_flight > 0 else 0.0
        startup_values = [rng.lognormvariate(math.log(b.startup_latency_ms), 0.35) for _ in range(startups)]
        tick.billable_seconds = round(active * seconds * busy + sum(startup_values) / 1000.0, 3)
        if startup_values:
            tick.startup = Dist.of_values("latency", startup_values)

        # utilization samples, one per active instance
        load = min(1.5, in_flight / (active * TARGET_CONCURRENCY)) if active else 0.0
        cpu_mean = b.cpu_utilization * (0.7 + 0.6 * load)
        tick.cpu = Dist.of_values("util", [_clamp01(rng.gauss(cpu_mean, 0.05)) for _ in range(active)])
        tick.memory = Dist.of_values("util", [_clamp01(rng.gauss(b.memory_utilization, 0.03)) for _ in range(active)])
        saturation.apply(tick, rev, b, kills, self._seed(service, rev.name, start, end))
        return tick


def _clamp01(x: float) -> float:
    return min(0.999, max(0.001, x))


def _active_for(request_rate: float, mean_latency_s: float) -> int:
    """Instances the autoscaler keeps for this load (Little's law at the target concurrency)."""
    return max(1, math.ceil(request_rate * mean_latency_s / TARGET_CONCURRENCY))


def _share_at(history: list[tuple[float, dict[str, int]]], revision: str, t: float) -> float:
    current: dict[str, int] = history[0][1] if history else {}
    for when, percents in history:
        if when <= t:
            current = percents
        else:
            break
    total = sum(current.values())
    return current.get(revision, 0) / total if total else 0.0


def _idle_instances(
    service: SimService,
    rev: SimRevision,
    history: list[tuple[float, dict[str, int]]],
    t: float,
    rate: float,
) -> int:
    """Instances kept idle at t by a revision that served traffic within the last 15 minutes."""
    last_share, ended = 0.0, None
    for when, percents in history:
        if when > t:
            break
        total = sum(percents.values()) or 1
        share = percents.get(rev.name, 0) / total
        if share > 0:
            last_share, ended = share, None
        elif last_share > 0 and ended is None:
            ended = when
    if ended is None or t - ended >= IDLE_KEEP_SECONDS:
        return 0
    b = rev.behavior_at(ended)
    return _active_for(rate * last_share, _lognormal_mean_s(b.latency_median_ms, b.latency_sigma))
