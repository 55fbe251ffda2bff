"""Cloud Run's request log (`run.googleapis.com/requests`), one entry per simulated request.

Generated from the same `RevisionTick` that Monitoring aggregates, so the two sources agree
exactly: every response code of the tick becomes one entry, and every latency is drawn inside
the `request_latencies` bucket the tick counted it in. What Monitoring cannot show is added on
top, deterministically per tick:

- clients: a fixed pool of client IPs per service with Zipf-like weights (a few heavy clients,
  many light ones); a 5xx is often retried by the same client a moment later, so one client's
  failures come in bursts;
- instances: the tick's active instances, each with its own share of the requests (uneven, as
  behind Cloud Run's load balancer);
- ingestion lag: `receiveTimestamp − timestamp` of a few seconds, jittered. An entry is never
  received before the middle of its tick (a tick is final only then: its split and rate are read
  there), so an entry in a tick's first half waits for that middle.

Cost: a handful of random draws and one dict per request (bench/request_logs.py measures it).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.emulator.traffic import _bounds

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.fleet import SimService
    from console.emulator.traffic import Dist, RevisionTick

CLIENTS_PER_SERVICE = 120
CLIENT_ZIPF = 1.1  # weight of the k-th client ∝ 1 / k^s
RETRY_SHARE = 0.35  # share of 5xx that are a client retrying its previous failed call
RETRY_GAP_SECONDS = (0.2, 1.5)
INSTANCE_SPREAD = 0.5  # sigma of the lognormal share of each instance
LAG_MEDIAN_SECONDS = 1.5  # ingestion lag after the response, before the mid-tick floor
LAG_SIGMA = 0.5
LAG_MAX_SECONDS = 8.0
MID_TICK_LAG_SECONDS = (0.3, 1.5)  # received this long after the tick's middle, at the earliest

SEVERITY_INFO, SEVERITY_WARNING, SEVERITY_ERROR = 200, 400, 500


@dataclass(frozen=True, slots=True)
class SimRequest:
    """One request as the request log describes it (times in unix seconds, latency in seconds)."""

    timestamp: float
    received: float
    status: int
    latency: float
    client: int  # index into the service's client pool
    instance: int  # index into the tick's instances
    bits: int  # 256 random bits for ids and small choices


def instance_id(svc: SimService, revision: str, k: int) -> str:
    """Cloud Run's instanceId label: a long hex string, stable per (service, revision, k)."""
    return "00" + hashlib.sha256(f"{svc.project}/{svc.name}/{revision}/{k}".encode()).hexdigest()[:94]


def client_ip(svc: SimService, k: int) -> str:
    digest = hashlib.sha1(f"client/{svc.project}/{svc.name}/{k}".encode()).digest()
    return f"{24 + digest[0] % 196}.{digest[1]}.{digest[2]}.{1 + digest[3] % 254}"


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


_CLIENT_CUM = _cumulative([1.0 / (k + 1) ** CLIENT_ZIPF for k in range(CLIENTS_PER_SERVICE)])


def _latencies(rng: random.Random, dist: Dist | None) -> list[float]:
    """One latency (seconds) per request counted in `dist`, each inside its own bucket."""
    if dist is None or not dist.count:
        return []
    bounds = _bounds("latency")
    out: list[float] = []
    for offset, count in enumerate(dist.counts):
        if not count:
            continue
        index = dist.first + offset
        if index == 0:
            lo, hi = bounds[0] * 0.3, bounds[0]
        elif index > len(bounds) - 1:
            lo, hi = bounds[-1], bounds[-1] * 1.2
        else:
            lo, hi = bounds[index - 1], bounds[index]
        log_lo, span = math.log(lo), math.log(hi) - math.log(lo)
        # [lo, hi): stay strictly inside so that the bucket of the value is the bucket counted
        out.extend(math.exp(log_lo + span * rng.random() * 0.999) / 1000.0 for _ in range(count))
    rng.shuffle(out)
    return out


def simulate_requests(seed: str, rt: RevisionTick) -> list[SimRequest]:
    """Every request of one revision tick, oldest first (deterministic per `seed`)."""
    rng = random.Random(seed)
    start, end = rt.start, rt.end
    span = end - start
    by_class: dict[str, list[int]] = {}
    for code, n in sorted(rt.codes.items()):
        by_class.setdefault(f"{code // 100}xx", []).extend([code] * n)
    pairs: list[tuple[int, float]] = []
    for cls, codes in by_class.items():
        rng.shuffle(codes)
        latencies = _latencies(rng, rt.latency.get(cls))
        fallback = latencies[-1] if latencies else 0.05
        pairs.extend((code, latencies[i] if i < len(latencies) else fallback) for i, code in enumerate(codes))
    if not pairs:
        return []
    rng.shuffle(pairs)
    times = sorted(start + span * rng.random() for _ in pairs)
    instances = max(1, rt.active_instances)
    instance_cum = _cumulative([rng.lognormvariate(0.0, INSTANCE_SPREAD) for _ in range(instances)])
    out: list[SimRequest] = []
    last_failure: tuple[int, float] | None = None  # (client, timestamp) of the latest 5xx
    for (status, latency), ts in zip(pairs, times):
        client = -1
        if status >= 500 and last_failure is not None and rng.random() < RETRY_SHARE:
            client = last_failure[0]
            ts = min(end - 1e-3, max(ts, last_failure[1] + rng.uniform(*RETRY_GAP_SECONDS)))
        if client < 0:
            client = rng.choices(range(CLIENTS_PER_SERVICE), cum_weights=_CLIENT_CUM)[0]
        instance = rng.choices(range(instances), cum_weights=instance_cum)[0] if instances > 1 else 0
        if status >= 500:
            last_failure = (client, ts)
        lag = min(LAG_MAX_SECONDS, rng.lognormvariate(math.log(LAG_MEDIAN_SECONDS), LAG_SIGMA))
        received = max(ts + latency + lag, start + span / 2 + rng.uniform(*MID_TICK_LAG_SECONDS))
        out.append(SimRequest(ts, received, status, latency, client, instance, rng.getrandbits(256)))
    out.sort(key=lambda r: r.timestamp)
    return out


def severity_of(status: int) -> int:
    """Cloud Run's request log severity: ERROR for 5xx, WARNING for 4xx, INFO otherwise."""
    return SEVERITY_ERROR if status >= 500 else SEVERITY_WARNING if status >= 400 else SEVERITY_INFO
