"""Saturation of a simulated revision: memory that leaks until the instance is OOM-killed, cold starts.

Called from `Traffic._revision_tick` (console/emulator/traffic.py) for each revision tick that
serves traffic. Kept apart from the request model so that the scenarios without a leak or cold
starts draw exactly the random numbers they always drew (this module has its own seeded stream).

- A leaking revision (`Behavior.memory_leak_per_minute > 0`): every instance's memory climbs from
  `memory_utilization` to its limit in L = (1 − base) ÷ leak minutes, is killed there (Cloud Run's
  "Memory limit of … exceeded"), restarts (a container start) and climbs again. Instance k's cycle
  is offset by a fraction of L fixed by its name, so kills are deterministic: one instance is killed
  exactly once per L. The requests it held, and those routed to it while it restarts, get 503.
- Cold starts: each request finds no warm instance with `cold_start_probability` and starts one.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.fleet import Behavior, SimRevision
    from console.emulator.traffic import RevisionTick


@dataclass(frozen=True)
class Kills:
    """The OOM kills of one revision tick and the requests they failed."""

    times: tuple[float, ...] = ()
    failed: int = 0


def leak_lifetime_seconds(behavior: Behavior) -> float | None:
    """Seconds from an instance's start to its OOM kill (None: it does not leak)."""
    if behavior.memory_leak_per_minute <= 0:
        return None
    return max(0.01, 1.0 - behavior.memory_utilization) / behavior.memory_leak_per_minute * 60.0


def _cycle_start(rev: SimRevision, instance: int, lifetime: float) -> float:
    digest = hashlib.sha256(f"{rev.name}/{instance}".encode()).digest()
    return rev.create_time + lifetime * int.from_bytes(digest[:4], "big") / 2**32


def oom_kills(rev: SimRevision, behavior: Behavior, start: float, end: float, active: int, requests: int) -> Kills:
    """Kills in (start, end] of the `active` instances, and how many of `requests` they fail."""
    lifetime = leak_lifetime_seconds(behavior)
    if lifetime is None or active <= 0:
        return Kills()
    times: list[float] = []
    for k in range(active):
        origin = _cycle_start(rev, k, lifetime)
        first = math.floor((start - origin) / lifetime) + 1
        last = math.floor((end - origin) / lifetime)
        times.extend(origin + i * lifetime for i in range(first, last + 1))
    if not times:
        return Kills()
    per_instance_per_second = requests / active / max(1e-9, end - start)
    restart_seconds = behavior.startup_latency_ms / 1000.0
    failed = sum(1 + round(per_instance_per_second * restart_seconds) for _ in times)
    return Kills(tuple(sorted(times)), min(requests, failed))


def memory_samples(rev: SimRevision, behavior: Behavior, end: float, active: int, rng: random.Random) -> list[float]:
    """One memory utilization sample per active instance at the tick's end, where it is in its leak."""
    lifetime = leak_lifetime_seconds(behavior)
    assert lifetime is not None
    base = behavior.memory_utilization
    out = []
    for k in range(active):
        age = (end - _cycle_start(rev, k, lifetime)) % lifetime
        out.append(min(0.999, max(0.001, base + (1.0 - base) * age / lifetime + rng.gauss(0.0, 0.01))))
    return out


def apply(tick: RevisionTick, rev: SimRevision, behavior: Behavior, kills: Kills, seed: str) -> None:
    """Add the tick's OOM kills, restarts, cold starts and leaking memory to `tick` (in place)."""
    from console.emulator.traffic import Dist

    if kills.times:
        tick.oom_kills = kills.times
        _answer_503(tick, kills.failed)
    rng = random.Random(f"{seed}/saturation")
    cold = _binomial_small(rng, tick.requests, behavior.cold_start_probability)
    starts = cold + len(kills.times)
    if starts:
        values = [rng.lognormvariate(math.log(behavior.startup_latency_ms), 0.35) for _ in range(starts)]
        added = Dist.of_values("latency", values)
        tick.startup = added if tick.startup is None else tick.startup.copy().merge(added)
        tick.billable_seconds = round(tick.billable_seconds + sum(values) / 1000.0, 3)
    if leak_lifetime_seconds(behavior) is not None and tick.active_instances:
        tick.memory = Dist.of_values("util", memory_samples(rev, behavior, tick.end, tick.active_instances, rng))


def _answer_503(tick: RevisionTick, failed: int) -> None:
    """The 5xx drawn for the kills' requests are 503s (Cloud Run's answer when the instance is gone)."""
    for code in (500, 502):
        moved = min(failed - tick.codes.get(503, 0), tick.codes.get(code, 0))
        if moved > 0:
            tick.codes[code] -= moved
            tick.codes[503] = tick.codes.get(503, 0) + moved
            if not tick.codes[code]:
                del tick.codes[code]


def _binomial_small(rng: random.Random, n: int, p: float) -> int:
    """Binomial(n, p) for the small p of cold starts (Poisson approximation above 50 trials)."""
    if n <= 0 or p <= 0:
        return 0
    if n <= 50:
        return sum(1 for _ in range(n) if rng.random() < p)
    lam = n * p
    if lam > 30:
        return max(0, min(n, round(rng.gauss(lam, math.sqrt(lam * (1 - p))))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return min(n, k)
