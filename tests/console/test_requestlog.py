"""The request log as a source (pure): dedup, watermark from the ingestion lag, unknown ranges,
step-aligned buckets with per-client and per-instance counts."""

from __future__ import annotations

import math

from console.requestlog import (
    CLIENT_STEP_ALLOWANCE,
    LAG_FLOOR_SECONDS,
    LAG_MARGIN_SECONDS,
    ClientAllowance,
    RequestEntry,
    RequestLog,
    UnknownRange,
    recent_traffic,
    step_buckets,
)

T0 = 1_800_000_000.0


def entry(i: int, t: float, revision: str = "stable", status: int = 200, latency_ms: float = 100.0,
          lag: float = 2.0, client: str = "1.1.1.1", instance: str = "i1", service: str = "svc") -> RequestEntry:
    return RequestEntry(f"id{i}", t, t + lag, service, revision, status, latency_ms, client, instance)


def test_an_entry_counts_once():
    log = RequestLog()
    assert log.add(entry(1, T0)) is True
    assert log.add(entry(1, T0)) is False
    assert len(log.entries("svc", T0 - 1, T0 + 1)) == 1 and log.duplicates == 1


def test_watermark_trails_the_newest_entry_by_the_worst_lag():
    log = RequestLog()
    assert log.watermark() is None
    log.add(entry(1, T0, lag=1.0))
    assert log.watermark() == T0 + 1.0 - LAG_FLOOR_SECONDS  # small lags: the floor
    log.add(entry(2, T0 + 1, lag=9.0))
    assert math.isclose(log.watermark(), T0 + 10.0 - 9.0 - LAG_MARGIN_SECONDS)


def test_buckets_start_at_the_step_and_end_at_the_watermark():
    entries = [entry(i, T0 + i, revision="cand" if i % 2 else "stable", status=503 if i == 3 else 200,
                     latency_ms=900 if i == 5 else 100) for i in range(30)]
    buckets, unknown = step_buckets(entries, "cand", "stable", T0 + 2, T0 + 25, slow_ms=500)
    assert [(b.start, b.end) for b in buckets] == [(T0 + 2, T0 + 12), (T0 + 12, T0 + 22)]
    first = buckets[0]
    assert (first.candidate.requests, first.candidate.errors, first.candidate.slow) == (5, 1, 1)
    assert first.stable.requests == 5 and first.stable.errors == 0
    sample = first.sample(tail_ms=800)
    assert sample.candidate.requests == 5 and sample.candidate.p95_ms == 900
    assert sample.candidate.tail == 1 and sample.stable.tail == 0  # the 900 ms request is over the tail threshold
    assert sample.candidate.max_client_bad == 1  # the judge bounds one client's 5xx per sample ...
    assert sample.candidate.client_excess == 0 and sample.stable.client_excess == 0  # ... and per step
    assert unknown == []


def test_a_bucket_that_may_miss_entries_is_unknown_not_zero():
    entries = [entry(i, T0 + i) for i in range(30)]
    buckets, unknown = step_buckets(entries, "cand", "stable", T0, T0 + 30, None,
                                    [UnknownRange(T0 + 12, T0 + 14, "the tail suppressed 40 entries")])
    assert [b.start for b in buckets] == [T0, T0 + 20]
    assert unknown == [UnknownRange(T0 + 10, T0 + 20, "the tail suppressed 40 entries")]


def test_a_retrying_client_and_a_bad_instance_show_as_maxima():
    entries = [entry(i, T0 + i * 0.1, revision="cand", status=500, client="9.9.9.9", instance="bad") for i in range(8)]
    entries += [entry(100 + i, T0 + i, revision="cand", status=500 if i == 0 else 200, client=f"2.2.2.{i}",
                      instance="good") for i in range(5)]
    (bucket,), _ = step_buckets(entries, "cand", "stable", T0, T0 + 10, None)
    assert bucket.candidate.errors == 9
    assert bucket.candidate.max_client_errors == 8 and bucket.candidate.max_instance_errors == 8
    assert bucket.candidate.errors_by_client == {"9.9.9.9": 8, "2.2.2.0": 1}


def test_known_again_after_a_backfill_and_pruned_after_retention():
    log = RequestLog(retention_seconds=100)
    log.mark_unknown(T0, math.inf, "being read back")
    log.add(entry(1, T0 + 1))
    log.mark_known(T0, math.inf)
    assert log.unknown() == []
    log.prune(T0 + 200)
    assert log.entries("svc", T0, T0 + 10) == [] and log.add(entry(1, T0 + 1))  # forgotten, id too


def test_a_service_only_the_screens_watch_keeps_minutes_and_a_judged_step_keeps_its_start_until_the_need_lapses():
    """A console left open must not hold hours of every watched service: the engine says what it needs."""
    from console.requestlog import NEED_LAPSE_SECONDS, VIEW_RETENTION_SECONDS

    log = RequestLog()
    for i, t in enumerate(range(0, 3600, 60)):  # an hour of two services, one entry a minute each
        log.add(entry(i, T0 + t, service="viewed"))
        log.add(entry(1000 + i, T0 + t, service="judged"))
    now = T0 + 3600
    assert log.need("judged", T0 + 600, now) is None  # a step that started 50 minutes ago: all kept so far
    log.prune(now)
    assert log.entries("viewed", T0, now)[0].timestamp == now - VIEW_RETENTION_SECONDS
    assert log.entries("judged", T0, now)[0].timestamp == T0 + 600
    later = now + NEED_LAPSE_SECONDS  # the rollout ended: nobody renewed the need
    log.prune(later)
    assert log.entries("judged", T0, later) == []  # nothing newer arrived; the step's hour is gone
    # a rollout resumed after that pause needs its step again: the forgotten part is said, to be read back
    assert log.need("judged", T0 + 600, later) == (T0 + 600, later - VIEW_RETENTION_SECONDS)
    assert log.need("judged", T0 + 600, later) is None  # said once: the reader reads it back or marks it unknown


def test_an_instances_first_seconds_are_not_counted_slow_unless_it_served_before_the_step():
    """Cold starts are per instance: a new instance's first `instance_warmup` seconds count for 5xx and
    the p95 limit, not as slow; an instance that served before the step is warm from its start."""
    from console.requestlog import step_buckets

    start = T0 + 100
    entries = [entry(1, T0 + 30, revision="cand", instance="old", latency_ms=900),  # served before the step
               entry(2, start + 5, revision="cand", instance="old", latency_ms=900),
               entry(3, start + 6, revision="cand", instance="new", latency_ms=900),  # its first request
               entry(4, start + 67, revision="cand", instance="new", latency_ms=900),  # a minute later: warm
               entry(5, start + 7, revision="stable", instance="s1", latency_ms=100)]
    buckets, _ = step_buckets(entries, "cand", "stable", start, start + 70, slow_ms=500, instance_warmup=60)
    first, last = buckets[0].sample(None), buckets[-1].sample(None)
    assert (first.candidate.requests, first.candidate.warm_requests, first.candidate.slow) == (2, 1, 1)
    assert first.candidate.p95_ms == 900  # the p95 limit still sees the cold request
    assert (last.candidate.requests, last.candidate.warm_requests, last.candidate.slow) == (1, 1, 1)


def test_last_received_per_revision():
    log = RequestLog()
    log.add(entry(1, T0, revision="stable", lag=3))
    log.add(entry(2, T0 + 5, revision="cand", lag=1))
    assert log.last_received("svc", "stable") == T0 + 3
    assert log.last_received("svc") == T0 + 6
    assert log.last_received("svc", "other") is None


def test_a_retrying_clients_5xx_beyond_its_step_allowance_are_excess_in_every_bucket():
    # one client retries a failing call every second for 30 s on the candidate: three buckets
    storm = [entry(i, T0 + i, revision="cand", status=503, client="9.9.9.9") for i in range(30)]
    others = [entry(100 + i, T0 + i + 0.5, revision="cand", status=500 if i in (4, 17) else 200, client=f"2.2.2.{i}")
              for i in range(30)]
    buckets, _ = step_buckets(storm + others, "cand", "stable", T0, T0 + 30, None)
    excess = [b.candidate.client_excess for b in buckets]
    assert excess == [10 - CLIENT_STEP_ALLOWANCE, 10, 10]  # the allowance is spent once, in the first bucket
    counted = [b.sample(None).candidate.errors - b.sample(None).candidate.client_excess for b in buckets]
    assert counted == [CLIENT_STEP_ALLOWANCE + 1, 1, 0]  # the scattered 5xx are distinct clients: all counted
    # the step's start resets the allowance: a later step counts the same client afresh
    later, _ = step_buckets(storm, "cand", "stable", T0 + 20, T0 + 30, None)
    assert later[0].candidate.client_excess == 10 - CLIENT_STEP_ALLOWANCE


def test_a_heavy_client_that_mostly_succeeds_counts_in_full():
    # a load balancer's address sending most traffic, 10 % of it failing (a regression for everyone)
    entries = [entry(i, T0 + i * 0.2, revision="cand", status=500 if i % 10 == 9 else 200, client="10.0.0.1")
               for i in range(150)]
    buckets, _ = step_buckets(entries, "cand", "stable", T0, T0 + 30, None)
    assert sum(b.candidate.errors for b in buckets) == 15
    assert all(b.candidate.client_excess == 0 for b in buckets)


def test_client_allowance_is_per_revision_and_in_time_order():
    allowance = ClientAllowance(allowance=1)
    assert [allowance.is_excess("c", failed=True) for _ in range(3)] == [False, True, True]
    assert allowance.is_excess("c", failed=False) is False  # a success earns one more
    assert allowance.is_excess("c", failed=True) is False
    assert allowance.is_excess("d", failed=True) is False  # another client has its own
    # the same client on both revisions: each revision's allowance is its own; entries given out of
    # order are counted in time order
    entries = [entry(i, T0 + 9 - i, revision="cand" if i % 2 else "stable", status=500, client="9.9.9.9")
               for i in range(10)]
    (bucket,), _ = step_buckets(entries, "cand", "stable", T0, T0 + 10, None)
    assert bucket.candidate.client_excess == bucket.stable.client_excess == 5 - CLIENT_STEP_ALLOWANCE


def test_the_allowance_keeps_running_across_an_unknown_bucket():
    storm = [entry(i, T0 + 2 * i, revision="cand", status=503, client="9.9.9.9") for i in range(15)]
    buckets, unknown = step_buckets(storm, "cand", "stable", T0, T0 + 30, None,
                                    [UnknownRange(T0 + 1, T0 + 2, "the tail suppressed 3 entries")])
    assert [b.start for b in buckets] == [T0 + 10, T0 + 20] and len(unknown) == 1
    assert [b.candidate.client_excess for b in buckets] == [5, 5]  # its allowance went in the unknown bucket


def test_recent_traffic_is_per_revision_per_bucket_up_to_the_watermark():
    # stable: 10 requests in each of the 6 buckets before T0 + 60, 1 of them a 5xx in the last bucket;
    # candidate: 5 requests in each of the last three buckets, all slow, two 5xx in the last
    entries = [entry(i, T0 + 10 * k + i, latency_ms=100.0 + i, status=500 if (k == 5 and i == 0) else 200)
               for k in range(6) for i in range(10)]
    entries += [entry(100 + 10 * k + i, T0 + 10 * k + i, "candidate", status=500 if (k == 5 and i < 2) else 200,
                      latency_ms=900.0) for k in (3, 4, 5) for i in range(5)]
    entries.append(entry(999, T0 + 61, latency_ms=5.0))  # past the watermark: not yet
    recent = recent_traffic(entries, until=T0 + 64, buckets=6)
    assert recent.until == T0 + 60 and recent.bucket_seconds == 10  # on a bucket edge
    assert recent.errors["stable"] == [0, 0, 0, 0, 0, 10.0]
    assert recent.errors["candidate"] == [0, 0, 40.0]  # buckets without requests are left out, not zeros
    assert recent.p95["stable"] == [109.0] * 6 and recent.p95["candidate"] == [900.0] * 3
    rate, error_rate, p95 = recent.last_minute["stable"]
    assert (rate, error_rate, p95) == (1.0, 1 / 60, 109.0)
    assert recent.last_minute["candidate"] == (0.25, 2 / 15, 900.0)


def test_recent_traffic_leaves_unknown_buckets_out_of_the_lines_and_the_figures():
    entries = [entry(10 * k + i, T0 + 10 * k + i) for k in range(6) for i in range(10)]
    recent = recent_traffic(entries, T0 + 60, buckets=6, unknown=[UnknownRange(T0 + 20, T0 + 35, "suppressed")])
    assert recent.unknown == 2 and len(recent.errors["stable"]) == 4
    assert recent.last_minute["stable"][0] == 1.0  # 40 requests over the 40 known seconds
    quiet = recent_traffic([entry(1, T0)], T0 + 120, buckets=12)  # served two minutes ago, not since: 0 req/s
    assert quiet.errors == {"stable": [0.0]} and quiet.last_minute == {"stable": (0.0, None, None)}
    assert recent_traffic([entry(1, T0)], T0 + 120, buckets=6).errors == {}  # nothing in the window at all


def test_a_log_gives_no_recent_traffic_for_a_service_none_of_whose_entries_came():
    log = RequestLog()
    log.add(entry(1, T0, service="other"))
    assert log.recent("svc") is None
    log.add(entry(2, T0 + 1))
    recent = log.recent("svc", buckets=3)
    assert recent is not None and recent.until <= log.watermark()


def test_two_retry_storms_in_one_minute_weigh_two_5xx_not_an_allowance_each(monkeypatch):
    """20 req/s at 10 % with stable at 0.25 % 5xx: two of the candidate's clients each retry a failing call
    20 times in 10 s within one minute. Counted once each, the judge sees no regression; with an allowance
    of 3 each (as before) the same minute rolled an unchanged candidate back. Judged at the 5xx α of 60 s
    windows, as when this was measured: the log's own, ten times smaller, needs more than this minute."""
    from functools import partial

    import console.requestlog as requestlog
    from console.judge import Evidence, JudgeParams, judge_step

    entries = [entry(i, T0 + i / 18, status=500 if i % 400 == 7 else 200, client=f"10.0.{i % 250}.{i // 250}")
               for i in range(18 * 60)]  # stable: 18 req/s, 0.25 % 5xx from distinct clients
    entries += [entry(10_000 + i, T0 + i / 2, revision="cand", client=f"10.1.{i}.1") for i in range(120)]
    for n, first in enumerate((5.0, 25.0)):
        entries += [entry(20_000 + 100 * n + k, T0 + first + k / 2, revision="cand", status=503, client=f"9.9.9.{n}")
                    for k in range(20)]

    def verdict():
        buckets, _ = step_buckets(entries, "cand", "stable", T0, T0 + 60, None)
        params = JudgeParams(request_log_errors_alpha_factor=1.0)
        return judge_step(params, Evidence(), [b.sample(None) for b in buckets], 60.0, step_started=T0)

    counted = verdict()
    assert counted.decision != "fail", counted.reasons
    assert counted.metrics["errors"]["candidate_bad"] == 2
    monkeypatch.setattr(requestlog, "ClientAllowance", partial(requestlog.ClientAllowance, allowance=3))
    allowed_three = verdict()
    assert allowed_three.decision == "fail" and allowed_three.metrics["errors"]["candidate_bad"] == 6


def test_an_unknown_range_of_one_service_holds_up_only_that_service():
    log = RequestLog()
    for i in range(30):
        log.add(entry(i, T0 + i, revision="cand" if i % 3 else "stable", lag=1.0))
        log.add(entry(100 + i, T0 + i, lag=1.0, service="other"))
    log.mark_unknown(T0, math.inf, "the request log is being read back", "other")
    assert log.unknown("svc") == [] and [u.reason for u in log.unknown("other")] == ["the request log is being read back"]
    buckets, unknown = log.step_buckets("svc", "cand", "stable", T0, None)
    assert buckets and not unknown
    others, skipped = log.step_buckets("other", "cand", "stable", T0, None)
    assert not others and skipped  # never a bucket of zeros
    # a read-back of another service does not fill it; one of "other" does
    log.mark_known(T0, math.inf, ["svc"])
    assert log.unknown("other")
    log.mark_known(T0, math.inf, ["other"])
    assert log.unknown() == []
    # a range of every service (the tail broke) concerns each, and only a read-back of all fills it
    log.mark_unknown(T0 + 10, math.inf, "the request log tail is reconnecting")
    assert log.unknown("svc") and log.unknown("other")
    log.mark_known(T0, math.inf, ["svc"])
    assert log.unknown("svc")
    log.mark_known(T0, math.inf)
    assert log.unknown() == []
