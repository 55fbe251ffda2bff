"""Synthetic traffic: deterministic per tick, consistent counts, split changes, instances, history."""

from __future__ import annotations

import math

from console.clock import ManualClock
from console.emulator.fleet import REVISION, Fleet, TrafficEntry
from console.emulator.traffic import (
    COARSE_TICK_SECONDS,
    IDLE_KEEP_SECONDS,
    METRIC_DELAY_SECONDS,
    TICK_SECONDS,
    Dist,
    Traffic,
    binomial,
    multinomial,
    poisson,
)


def backend(fleet: Fleet, env: str = "production"):
    return next(s for s in fleet.services() if s.env == env and s.name == "vinsight-backend")


def stable_and_candidate(svc) -> tuple[str, str]:
    names = list(svc.revisions)
    return names[-2], names[-1]


def make(repo_config, scenario: str = "healthy", seed: int = 0) -> tuple[ManualClock, Fleet, Traffic]:
    clock = ManualClock()
    fleet = Fleet(repo_config, scenario, clock, seed)
    return clock, fleet, Traffic(fleet)


def test_ticks_are_deterministic_and_independent_of_query_order(repo_config):
    clock, fleet, traffic = make(repo_config, seed=7)
    _, fleet2, traffic2 = make(repo_config, seed=7)
    now = clock.now()
    svc, svc2 = backend(fleet), backend(fleet2)
    late = traffic.ticks(svc, now - 300, now)
    early = traffic.ticks(svc, now - 3 * 3600, now - 3 * 3600 + 600)
    early2 = traffic2.ticks(svc2, now - 3 * 3600, now - 3 * 3600 + 600)  # other order, other instance
    late2 = traffic2.ticks(svc2, now - 300, now)
    for a, b in zip(late + early, late2 + early2):
        assert (a.start, a.end, a.requests) == (b.start, b.end, b.requests)
        for name, rt in a.revisions.items():
            assert rt.codes == b.revisions[name].codes
            assert rt.latency["2xx"].counts == b.revisions[name].latency["2xx"].counts
    # a different seed gives different traffic
    _, fleet3, traffic3 = make(repo_config, seed=8)
    other = traffic3.ticks(backend(fleet3), now - 300, now)
    assert [t.requests for t in other] != [t.requests for t in late]


def test_counts_add_up(repo_config):
    clock, fleet, traffic = make(repo_config)
    now = clock.now()
    svc = backend(fleet)
    ticks = traffic.ticks(svc, now - 600, now)
    assert len(ticks) == 600 // TICK_SECONDS
    assert all(t.end - t.start == TICK_SECONDS for t in ticks)
    total = 0
    for tick in ticks:
        assert sum(rt.requests for rt in tick.revisions.values()) == tick.requests
        for rt in tick.revisions.values():
            by_class = rt.by_class()
            for cls, dist in rt.latency.items():
                assert dist.count == by_class[cls] == sum(dist.counts)
        total += tick.requests
    # production backend ≈ 40 req/s (±20 % daily curve)
    assert 0.7 * 40 * 600 < total < 1.3 * 40 * 600


def test_rates_and_latency_match_the_behaviour(repo_config):
    clock, fleet, traffic = make(repo_config)
    now = clock.now()
    svc = backend(fleet)
    stable, _ = stable_and_candidate(svc)
    merged = Dist("latency")
    n = errors = 0
    for tick in traffic.ticks(svc, now - 3600, now):
        rt = tick.revisions[stable]
        n += rt.requests
        errors += rt.errors
        merged.merge(rt.latency["2xx"])
    assert 0.002 < errors / n < 0.007  # stable 5xx ≈ 0.4 %
    assert 140 < median_ms(merged) < 230  # backend p50 ≈ 180 ms


def median_ms(dist: Dist) -> float:
    half, seen = dist.count / 2, 0
    for i, c in enumerate(dist.counts):
        seen += c
        if seen >= half:
            index = dist.first + i  # bucket [1.4^(index-1), 1.4^index)
            return 1.4 ** (index - 0.5)
    raise AssertionError("empty")


def test_split_change_moves_requests_and_leaves_idle_instances(repo_config):
    clock, fleet, traffic = make(repo_config)
    svc = backend(fleet)
    stable, candidate = stable_and_candidate(svc)
    change = clock.now()
    with fleet.lock:
        svc.record_served([TrafficEntry(REVISION, stable, 50), TrafficEntry(REVISION, candidate, 50)], change)
    clock.advance(600)
    after = traffic.revision_counts(svc, candidate, change, clock.now())
    kept = traffic.revision_counts(svc, stable, change, clock.now())
    assert sum(after.values()) > 0.35 * (sum(after.values()) + sum(kept.values()))
    assert traffic.revision_counts(svc, candidate, change - 600, change) == {}

    # all traffic to the candidate: stable keeps idle instances for 15 minutes, then none
    moved = clock.now()
    with fleet.lock:
        svc.record_served([TrafficEntry(REVISION, candidate, 100)], moved)
    clock.advance(IDLE_KEEP_SECONDS + 120)
    ticks = traffic.ticks(svc, moved, clock.now())
    idle = [t.revisions.get(stable) for t in ticks]
    early = [rt for rt, t in zip(idle, ticks) if t.end < moved + IDLE_KEEP_SECONDS - 20]
    assert early and all(rt is not None and rt.requests == 0 and rt.idle_instances >= 1 and rt.active_instances == 0 for rt in early)
    assert ticks[-1].revisions.get(stable) is None
    assert all(t.revisions[candidate].active_instances >= 1 for t in ticks)


def test_history_is_coarse_before_the_last_hour(repo_config):
    clock, fleet, traffic = make(repo_config)
    now = clock.now()
    svc = backend(fleet)
    day = traffic.ticks(svc, now - 24 * 3600, now)
    assert day[0].end - day[0].start == COARSE_TICK_SECONDS
    assert day[-1].end - day[-1].start == TICK_SECONDS
    ends = [t.end for t in day]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    assert all(b.start == a.end for a, b in zip(day, day[1:]))  # no gap, no overlap
    assert traffic.ticks(svc, now - 40 * 3600, now - 30 * 3600) == []  # before the simulated history


def test_no_tick_beyond_now_and_metric_delay(repo_config):
    clock, fleet, traffic = make(repo_config)
    now = clock.now()
    assert traffic.ticks(backend(fleet), now, now + 600) == []
    assert traffic.delay == METRIC_DELAY_SECONDS
    assert traffic.visible_until(now) == now - METRIC_DELAY_SECONDS


def test_crashloop_candidate_restarts_and_fails(repo_config):
    clock, fleet, traffic = make(repo_config, "crashloop")
    svc = backend(fleet)
    stable, candidate = stable_and_candidate(svc)
    change = clock.now()
    with fleet.lock:
        svc.record_served([TrafficEntry(REVISION, stable, 90), TrafficEntry(REVISION, candidate, 10)], change)
    clock.advance(300)
    ticks = traffic.ticks(svc, change, clock.now())
    rts = [t.revisions[candidate] for t in ticks]
    assert all(rt.startup is not None and rt.startup.count >= 1 for rt in rts)
    n = sum(rt.requests for rt in rts)
    assert sum(rt.errors for rt in rts) > 0.4 * n
    assert sum(rt.codes.get(503, 0) for rt in rts) > sum(rt.codes.get(500, 0) for rt in rts)


def test_samplers():
    import random

    rng = random.Random(1)
    for lam in (0.5, 7, 400):
        mean = sum(poisson(rng, lam) for _ in range(2000)) / 2000
        assert math.isclose(mean, lam, rel_tol=0.1)
    for n, p in ((10, 0.3), (200, 0.02), (5000, 0.4), (100, 0.9)):
        draws = [binomial(rng, n, p) for _ in range(2000)]
        assert all(0 <= d <= n for d in draws)
        assert math.isclose(sum(draws) / 2000, n * p, rel_tol=0.1)
    for _ in range(200):
        assert sum(multinomial(rng, 137, [0.2, 0.5, 0.3])) == 137


def test_dist_merge_is_exact():
    a = Dist.of_values("latency", [10.0, 20.0, 30.0])
    b = Dist.of_values("latency", [100.0, 5.0])
    both = Dist.of_values("latency", [10.0, 20.0, 30.0, 100.0, 5.0])
    merged = a.copy().merge(b)
    assert merged.count == both.count
    assert math.isclose(merged.mean, both.mean)
    assert math.isclose(merged.ssd, both.ssd)
    assert merged.bucket_counts() == both.bucket_counts()
