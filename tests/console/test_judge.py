"""Unit tests of the judge (pure: no I/O, no clock)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from console.judge import (
    PSI_GRID,
    Counts,
    Evidence,
    Guardrail,
    JudgeParams,
    Metric,
    MetricEvidence,
    Sample,
    StepTotals,
    by_minute,
    ell,
    inconclusive_action,
    judge_step,
    level_guardrail,
    metric_test,
    mixture_log_lr,
    p95_guardrail,
    pass_check,
    plan_exposure,
    psi_interval,
    rise_guardrail,
    sample_cap,
    sample_minute_cap,
    step_totals,
    window_llr,
)

P = JudgeParams()
T0 = 1_700_000_000.0


def sample(
    minute: int,
    cand: tuple[int, int, int],
    stab: tuple[int, int, int],
    p95: tuple[float | None, float | None] = (None, None),
) -> Sample:
    """A 60 s sample; counts are (requests, 5xx, slow)."""
    start = T0 + 60 * minute
    return Sample(start, start + 60, Counts(*cand, p95_ms=p95[0]), Counts(*stab, p95_ms=p95[1]))


def healthy(minutes: range, n_c: int = 1200, n_s: int = 10800) -> list[Sample]:
    """Both revisions at 0.5 % 5xx and 5 % slow, exact expected counts."""
    return [
        sample(m, (n_c, n_c // 200, n_c // 20), (n_s, n_s // 200, n_s // 20), (450.0, 450.0))
        for m in minutes
    ]


# ---------------------------------------------------------------------- statistics


def test_ell_matches_hand_computation() -> None:
    # 5·ln 2 − 10·ln((2·100 + 900)/1000) = 3.465736 − 0.953102
    assert ell(2.0, 100, 5, 900, 5) == pytest.approx(2.512634, abs=1e-6)
    assert ell(1.0, 100, 5, 900, 5) == 0.0
    assert ell(4.0, 0, 0, 0, 0) == 0.0
    assert ell(4.0, 100, 0, 900, 0) == 0.0


def test_psi_grid_and_mixture() -> None:
    assert len(PSI_GRID) == 10
    assert PSI_GRID[0] == pytest.approx(math.sqrt(2)) and PSI_GRID[-1] == pytest.approx(32)
    assert mixture_log_lr([0.0] * 10) == pytest.approx(0.0)
    # one component at ln 400, the rest at -inf-ish: mean = 40
    assert mixture_log_lr([math.log(400)] + [-1e6] * 9) == pytest.approx(math.log(40))


def test_psi_interval_covers_the_ratio_and_is_wide_on_few_events() -> None:
    est, lo, hi = psi_interval([(10_000, 200, 10_000, 50)])
    assert est == pytest.approx(4.0, rel=1e-3)
    assert lo is not None and hi is not None and 2.8 < lo < 4 < hi < 5.7
    _, lo_small, hi_small = psi_interval([(100, 1, 900, 4)])
    assert lo_small is not None and lo_small < 0.5 and (hi_small is None or hi_small > 5)
    assert psi_interval([(100, 0, 900, 0)]) == (None, None, None)


def test_counts_are_validated() -> None:
    with pytest.raises(ValueError, match="errors"):
        Counts(10, 11, 0)
    with pytest.raises(ValueError, match="requests"):
        Counts(-1, 0, 0)
    with pytest.raises(ValueError, match="after start"):
        Sample(10, 10, Counts(1, 0, 0), Counts(1, 0, 0))


# ------------------------------------------------------------------------ evidence


def test_evidence_round_trips_through_compact_json() -> None:
    v = judge_step(P, Evidence(), healthy(range(6)), 360)
    text = json.dumps(v.evidence.to_dict(), separators=(",", ":"))
    assert Evidence.from_dict(json.loads(text)) == v.evidence
    assert len(text.encode()) < 1024
    assert Evidence.from_dict(Evidence().to_dict()) == Evidence()


def test_evidence_stays_small_over_many_big_steps() -> None:
    carried = Evidence()
    for step in range(9):
        samples = [
            sample(100 * step + m, (99_999, 9_999, 9_999), (999_999, 99_999, 99_999))
            for m in range(3)
        ]
        carried = judge_step(P, carried, samples, 900).evidence
    text = json.dumps(carried.to_dict(), separators=(",", ":"))
    assert len(text.encode()) < 1024
    assert carried.steps == 9 and len(carried.errors.strata) <= 6
    assert Evidence.from_dict(json.loads(text)) == carried


def test_evidence_from_dict_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        Evidence.from_dict({"v": 1, "errors": {"llr": [0.0, 1.0]}})
    with pytest.raises(ValueError):
        MetricEvidence.from_dict({"llr": [0.0] * 10, "strata": [[1, 2, 3]]})


# --------------------------------------------------------------------------- verdicts


def test_clear_regression_fails_with_both_rates_and_the_limit() -> None:
    samples = [sample(m, (1200, 120, 60), (10800, 54, 540)) for m in range(3)]
    # one window is not enough for anything: a burst looks the same
    assert judge_step(P, Evidence(), samples[:1], 60).decision == "continue"
    # two: the +2 pp guardrail, without the worst window, still sees a rise of ≥ 2 pp
    two = judge_step(P, Evidence(), samples[:2], 120)
    assert two.decision == "fail"
    assert any("over the limit +2 pp" in r and "the worst window left out" in r for r in two.reasons)
    v = judge_step(P, Evidence(), samples, 180)
    assert v.decision == "fail"
    text = "\n".join(v.reasons)
    assert "10.00 %" in text and "0.50 %" in text
    assert "evidence of regression: likelihood ratio" in text
    assert v.metrics["errors"]["likelihood_ratio"] >= 40
    json.dumps(v.metrics, allow_nan=False)


def test_healthy_high_traffic_passes_after_min_bake_and_not_before() -> None:
    samples = healthy(range(5))
    before = judge_step(P, Evidence(), samples[:4], 240)
    assert before.decision == "continue"
    assert "240 s of the 300 s minimum" in before.reasons[0]
    after = judge_step(P, Evidence(), samples, 300)
    assert after.decision == "pass"
    assert any("no regression" in r for r in after.reasons)
    assert after.metrics["errors"]["step_llr_psi2"] <= P.promote_llr
    assert after.metrics["slow"]["step_llr_psi2"] <= P.promote_llr
    json.dumps(after.metrics, allow_nan=False)


def test_judge_step_is_idempotent_and_order_free() -> None:
    samples = healthy(range(5))
    a = judge_step(P, Evidence(), samples, 300)
    b = judge_step(P, Evidence(), list(reversed(samples)), 300)
    assert a == b


def test_low_traffic_is_inconclusive_at_max_bake_and_says_not_enough() -> None:
    # 2 req/s, 10 % to the candidate: 12 candidate requests a minute, 15 minutes
    samples = [
        sample(m, (12, 1 if m in (4, 11) else 0, 1 if m % 2 else 0),
               (108, 1 if m % 2 else 0, 5 + m % 2))
        for m in range(15)
    ]
    mid = judge_step(P, Evidence(), samples[:10], 600)
    assert mid.decision == "continue"
    v = judge_step(P, Evidence(), samples, 900)
    assert v.decision == "inconclusive"
    text = "\n".join(v.reasons)
    assert "not enough traffic yet: 180 candidate requests in the rollout — need 200" in text
    assert "max bake 900 s" in v.reasons[0]


def test_low_traffic_noise_does_not_trip_the_rise_guardrail() -> None:
    # one 5xx out of 12 requests is 8.3 % vs stable 0.5 %: a naive +2 pp rule fires
    v = judge_step(P, Evidence(), [sample(0, (12, 1, 0), (108, 0, 5))], 60)
    assert v.decision == "continue"


def test_incident_shared_by_both_revisions_is_not_a_fail() -> None:
    samples = healthy(range(2), 120, 1080) + [
        sample(m, (120, 12, 6), (1080, 97, 54)) for m in range(2, 5)
    ]
    # stable over the 5 % limit is the baseline, not an incident to wait out: the identical
    # candidate passes, and the reasons say why the limit did not count
    v = judge_step(P, Evidence(), samples, 300)
    assert v.decision == "pass", v.reasons
    assert any("stable is at 8.98 % too" in r and "stable is the baseline" in r for r in v.reasons)


def test_sustained_5xx_level_on_the_candidate_alone_fails() -> None:
    # 10 % against stable's 3.5 %, the +2 pp rule switched off: over 5 % for 2 minutes
    base = [sample(m, (2000, 10, 100), (2000, 10, 100)) for m in range(3)]
    bad = [sample(m, (2000, 200, 100), (2000, 70, 100)) for m in range(3, 6)]
    params = JudgeParams(max_error_rate_increase_pp=50)
    v = judge_step(params, Evidence(), base + bad, 360)
    assert v.decision == "fail"
    assert any("limit 5 % for 120 s" in r for r in v.reasons)
    # two minutes, one of them the worst: two bursts in a row are not "for 2 minutes"
    assert judge_step(params, Evidence(), base + bad[:2], 300).decision != "fail"


def test_evidence_is_carried_between_steps() -> None:
    # a mild regression (ψ = 2 on 5xx): not enough in one step, enough over three
    def step(first_minute: int) -> list[Sample]:
        return [sample(first_minute + m, (100, 1, 5), (900, 4, 45)) for m in range(10)]

    # a tight tolerance, so only the sequential test decides here; uncapped against ψ = 1, so the
    # sums are the plain Σℓ (the carrying is what is tested)
    params = JudgeParams(max_bake_seconds=600, max_error_rate_increase_pp=0.1,
                         tolerated_ratio=1.0, window_evidence_cap=math.inf)
    carried = Evidence()
    decisions = []
    for k in range(3):
        v = judge_step(params, carried, step(10 * k), 600)
        decisions.append(v.decision)
        if v.decision != "fail":
            # the carried sums are the previous sums plus this step's own
            fresh = judge_step(params, Evidence(), step(10 * k), 600).evidence
            for a, b, c in zip(v.evidence.errors.llr, carried.errors.llr, fresh.errors.llr):
                assert a == pytest.approx(b + c, abs=0.01)
            assert v.evidence.steps == k + 1
            assert v.evidence.samples == 10 * (k + 1)
        carried = v.evidence
    assert decisions == ["inconclusive", "inconclusive", "fail"]
    # alone, the last step would not have failed
    assert judge_step(params, Evidence(), step(20), 600).decision != "fail"


def test_early_promotion_uses_only_the_steps_own_evidence() -> None:
    very_healthy = judge_step(P, Evidence(), healthy(range(10)), 600).evidence
    # a new step where the candidate is twice as slow must not pass on the previous step's evidence
    slower = [sample(m, (1200, 6, 120), (10800, 54, 540), (450.0, 450.0)) for m in range(10, 15)]
    v = judge_step(P, very_healthy, slower, 300)
    assert v.decision == "continue"
    assert not any(r.startswith("slow requests: no regression") for r in v.reasons)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"health_failed": "GET /healthz → 503"}, "GET /healthz → 503"), ({"crash_looping": True}, "crash")],
)
def test_health_failure_and_crash_loop_fail_at_once(kwargs: dict, needle: str) -> None:
    v = judge_step(P, Evidence(), [], 0, **kwargs)
    assert v.decision == "fail"
    assert any(needle in r for r in v.reasons)


def test_p95_guardrail_sustained_on_candidate_only() -> None:
    def run(cand_p95: float, stable_p95: float) -> list[Sample]:
        return [
            sample(m, (1200, 6, 60), (10800, 54, 540), (cand_p95 if m >= 2 else 400.0, stable_p95))
            for m in range(5)
        ]

    v = judge_step(P, Evidence(), run(6200.0, 640.0), 300)
    assert v.decision == "fail"
    assert any("p95 6,200 ms vs 640 ms" in r and "limit 5,000 ms" in r for r in v.reasons)
    # stable over the limit too: not the candidate's fault
    shared = judge_step(P, Evidence(), run(6200.0, 5800.0), 300)
    assert shared.decision != "fail"
    assert any("not the candidate's fault" in r for r in shared.reasons)
    # a single slow minute is not sustained
    once = [sample(m, (1200, 6, 60), (10800, 54, 540), (6200.0 if m == 4 else 400.0, 640.0))
            for m in range(5)]
    assert judge_step(P, Evidence(), once, 300).decision == "pass"


def test_cold_starts_in_the_warmup_are_ignored_for_latency() -> None:
    samples = [
        sample(m, (1200, 6, 900 if m < 2 else 60), (10800, 54, 540),
               (9000.0 if m < 2 else 450.0, 450.0))
        for m in range(5)
    ]
    assert judge_step(P, Evidence(), samples, 300).decision == "pass"
    # the same latency for the whole step after the warm-up is a regression
    slow = [sample(m, (1200, 6, 900), (10800, 54, 540), (9000.0, 450.0)) for m in range(5)]
    late = judge_step(P, Evidence(), slow, 300, step_started=T0 - 600)
    assert late.decision == "fail"
    assert any("slow requests 75.00 % vs stable 5.00 %" in r for r in late.reasons)


def test_on_the_request_log_latency_is_judged_from_the_steps_first_seconds_without_cold_starts() -> None:
    """With each instance's warm-up counted apart by the source (`warm_requests`), a slow candidate is
    caught inside the step's first 2 minutes, which a per-step warm-up would have ignored; cold-start
    slowness the source left out does not count."""
    def bucket(k: int, cand_slow: int, cold: int = 0) -> Sample:
        start = T0 + 10 * k
        return Sample(start, start + 10, Counts(200 + cold, 1, cand_slow, warm_requests=200),
                      Counts(1800, 9, 90, warm_requests=1800))

    regression = [bucket(k, 60) for k in range(11)]  # 30 % slow vs 5 %, 110 s into the step
    verdict = judge_step(P, Evidence(), regression, 110, step_started=T0)
    assert verdict.decision == "fail"
    assert any("slow requests 30.00 % vs stable 5.00 %" in r and "on instances past their first 60 s" in r
               for r in verdict.reasons), verdict.reasons
    # the same counts without instance keys wait for the step's warm-up: nothing to say about latency yet
    unkeyed = [replace(s, candidate=replace(s.candidate, warm_requests=None), stable=replace(s.stable, warm_requests=None))
               for s in regression]
    assert judge_step(P, Evidence(), unkeyed, 110, step_started=T0).decision != "fail"
    # cold starts: 300 more requests per bucket on new instances, all slow, but not counted as slow
    cold = [bucket(k, 10, cold=300) for k in range(11)]
    assert judge_step(P, Evidence(), cold, 110, step_started=T0).decision != "fail"
    with pytest.raises(ValueError, match="slow must be between 0 and warm_requests"):
        Counts(500, 1, 300, warm_requests=200)


def test_on_monitoring_a_window_in_which_the_candidate_started_containers_is_left_out_of_the_latency_tests() -> None:
    """Autoscaling past the step's warm-up: Monitoring cannot tell the new instance's requests apart,
    but it counts the container starts per window, and those windows' candidate latency is left out."""
    from console.samples import leave_out_cold_windows

    def window(m: int) -> Sample:  # every other minute a new instance: half the candidate's requests cold, ×3 slower
        cold, start = m % 2, T0 + 60 * m
        return Sample(start, start + 60, Counts(1200, 6, 600 if cold else 60, 900.0 if cold else 450.0, tail=30 if cold else 0),
                      Counts(10800, 54, 540, 450.0, tail=1))

    samples = [window(m) for m in range(10)]
    starts = {T0 + 60 * m + 60: 1 for m in range(10) if m % 2}  # window end → container starts
    failed = judge_step(P, Evidence(), samples, 600, step_started=T0 - 600)
    assert failed.decision == "fail" and failed.reasons[0].startswith("tail requests")  # a cold start looks like a regression
    cold = leave_out_cold_windows(samples, starts, judged_from=T0 - 480)
    assert (cold[1].candidate.requests, cold[1].candidate.errors, cold[1].candidate.slow) == (1200, 6, 0)
    assert cold[1].candidate.p95_ms == 900.0  # the hard p95 limit still reads it
    passed = judge_step(P, Evidence(), cold, 600, step_started=T0 - 600)
    assert passed.decision == "pass"
    assert "latency: 5 windows of the candidate's left out — it started containers in them" in " ".join(passed.reasons)
    # starts in nearly every window are the candidate's behaviour (scale-to-zero churn): judged as they are
    churn = {T0 + 60 * m + 60: 1 for m in range(10) if m != 4}
    assert leave_out_cold_windows(samples, churn, judged_from=T0 - 480) == samples


def test_low_5xx_rate_passes_within_the_operators_tolerance() -> None:
    """At 0.4 % 5xx the SPRT alone would need ~20k requests to accept; the +2 pp rule decides."""
    samples = [sample(m, (60, 0 if m % 3 else 1, 3), (540, 2, 27)) for m in range(8)]
    v = judge_step(JudgeParams(), Evidence(), samples, 480)
    assert v.decision == "pass", v.reasons
    assert any("within the +2 pp limit" in r for r in v.reasons)
    # the same counts with a candidate at 3 % do not pass on tolerance
    worse = [sample(m, (60, 2, 3), (540, 2, 27)) for m in range(8)]
    assert judge_step(JudgeParams(), Evidence(), worse, 480).decision != "pass"


def test_a_candidate_with_fewer_5xx_than_stable_is_said_so_not_as_a_negative_rise() -> None:
    # rare 5xx: candidate 0 of 850, stable 5 of 850 — passed on the +2 pp tolerance, the rise's bound below zero
    samples = [sample(m, (170, 0, 8), (170, 1, 8)) for m in range(5)]
    reasons = " ".join(judge_step(P, Evidence(), samples, 300).reasons)
    assert "lower than stable by at least " in reasons and "rise at most -" not in reasons


# ------------------------------------------------- robustness: bursts, instances, tails


def _null_expectation(row: tuple[int, int, int, int], psi0: float, cap: float, k: int) -> float:
    """E[exp(min(ℓ(ψ0·ψ_k) − ℓ(ψ0), cap))] under ψ = ψ0, summed exactly over the binomial."""
    n_c, _, n_s, _ = row
    b = row[1] + row[3]
    pi0 = psi0 * n_c / (psi0 * n_c + n_s)
    total = 0.0
    for x in range(b + 1):
        weight = math.comb(b, x) * pi0**x * (1 - pi0) ** (b - x)
        total += weight * math.exp(window_llr((n_c, x, n_s, b - x), psi0, cap)[k])
    return total


@pytest.mark.parametrize("row", [(100, 3, 900, 9), (1200, 30, 10800, 40), (50, 2, 50, 5)])
@pytest.mark.parametrize(("psi0", "cap"), [(1.0, math.inf), (1.25, 1.5), (1.25, 3.5)])
def test_each_window_keeps_the_test_a_supermartingale_under_the_null(row, psi0, cap) -> None:
    for k in range(len(PSI_GRID)):
        assert _null_expectation(row, psi0, cap, k) <= 1 + 1e-9


def test_window_llr_is_capped_and_shifted_to_the_null_ratio() -> None:
    row = (100, 5, 900, 5)
    assert window_llr(row)[1] == pytest.approx(ell(2.0, *row))
    assert max(window_llr((100, 40, 900, 5), 1.0, 1.5)) == 1.5
    shifted = window_llr(row, 1.25)
    assert shifted[1] == pytest.approx(ell(2.5, *row) - ell(1.25, *row))
    assert window_llr((100, 0, 900, 0), 1.25, 1.5) == [0.0] * len(PSI_GRID)


def test_one_retry_burst_neither_rolls_back_nor_holds_a_healthy_candidate() -> None:
    # 20 req/s at 50 %: one minute in which one client retried a failing call 45 times on the candidate
    samples = healthy(range(6), 600, 600)
    burst = samples[2]
    samples[2] = Sample(burst.start, burst.end, Counts(645, 48, 30, 450.0), burst.stable)
    v = judge_step(P, Evidence(), samples, 360)
    assert v.decision == "pass", v.reasons
    # the same burst, a second and a third time, in the same step: still not a rollback by itself
    for m in (3, 4):
        s = samples[m]
        samples[m] = Sample(s.start, s.end, Counts(645, 48, 30, 450.0), s.stable)
    assert judge_step(P, Evidence(), samples, 360).decision != "fail"


def test_one_clients_errors_count_at_most_client_max_bad_per_sample() -> None:
    burst = Counts(645, 48, 30, 450.0, max_client_bad=45)
    samples = [sample(m, (600, 3, 30), (600, 3, 30), (450.0, 450.0)) for m in range(6)]
    samples = [Sample(s.start, s.end, burst, s.stable) for s in samples]  # a burst every minute
    v = judge_step(P, Evidence(), samples, 360)
    assert v.decision == "pass", v.reasons
    # counted: 48 − (45 − 5) = 8 per sample
    assert v.evidence.errors.strata[-1][1] == 6 * 8
    unbounded = [Sample(s.start, s.end, Counts(645, 48, 30, 450.0), s.stable) for s in samples]
    assert judge_step(P, Evidence(), unbounded, 360).decision == "fail"


def test_a_slightly_worse_instance_is_within_the_null_ratio() -> None:
    # 2000 req/s, the candidate on one instance 20 % worse than stable's average, for a whole step
    samples = [sample(m, (12_000, 72, 600), (108_000, 540, 5400), (450.0, 450.0)) for m in range(15)]
    v = judge_step(P, Evidence(), samples, 900)
    assert v.decision == "pass", v.reasons
    assert v.metrics["errors"]["likelihood_ratio"] < 1


def test_a_tail_regression_with_the_same_p95_is_caught_by_the_tail_metric() -> None:
    # 1.2 % of the candidate's requests 3–4× stable's p99; the slow share barely moves
    def window(m: int) -> Sample:
        return Sample(T0 + 60 * m, T0 + 60 * m + 60, Counts(1200, 6, 73, 460.0, tail=15),
                      Counts(10800, 54, 540, 450.0, tail=1))

    v = judge_step(P, Evidence(), [window(m) for m in range(2, 7)], 420, step_started=T0)
    assert v.decision == "fail", v.reasons
    assert any(r.startswith("tail requests 1.25 % vs stable 0.01 %") for r in v.reasons)
    assert v.metrics["tail"]["likelihood_ratio"] >= v.metrics["tail"]["rollback_at"] == 80


def test_minimum_requests_count_over_the_rollout_not_per_step() -> None:
    first = judge_step(P, Evidence(), [sample(m, (30, 0, 1), (270, 1, 13)) for m in range(5)], 300)
    assert first.decision == "continue"
    assert any("150 candidate requests in the rollout — need 200" in r for r in first.reasons)
    second = judge_step(P, first.evidence, [sample(m, (30, 0, 1), (270, 1, 13)) for m in range(10, 15)], 300)
    assert second.metrics["rollout_candidate_requests"] == 300
    assert any("enough traffic: 300 candidate requests in the rollout" in r for r in second.reasons)


def test_reasons_say_it_in_plain_words_first_then_the_notation() -> None:
    v = judge_step(P, Evidence(), healthy(range(5)), 300)
    errors = next(r for r in v.reasons if r.startswith("5xx"))
    assert errors.startswith("5xx: no regression — 0.50 % vs stable 0.50 %; evidence for a doubling ")
    assert ", pass at ≤ 0.11 (step Σℓ(2) " in errors


def test_counts_validate_tail_and_client_fields() -> None:
    with pytest.raises(ValueError, match="tail"):
        Counts(10, 0, 1, tail=2)
    with pytest.raises(ValueError, match="max_client_bad"):
        Counts(10, 2, 0, max_client_bad=3)


def test_evidence_without_a_tail_metric_reads_as_an_empty_one() -> None:
    data = Evidence().to_dict()
    del data["tail"]
    assert Evidence.from_dict(data) == Evidence()


# ---------------------------------------------------------------- exposure and policy


def test_plan_keeps_the_configured_steps_when_traffic_suffices() -> None:
    plan = plan_exposure((10, 50, 100), 20.0, 900, 200)
    assert plan.steps == (10, 50, 100) and not plan.changed
    assert "~1,800 requests" in plan.reason and "configured steps kept" in plan.reason


def test_plan_grows_the_first_step_at_low_traffic_and_says_why() -> None:
    plan = plan_exposure((10, 50, 100), 2.0, 900, 200)
    assert plan.steps == (15, 50, 100) and plan.changed
    assert plan.reason.startswith("at 2 req/s 10 % serves ~180 requests in the 900 s max bake, not the 200")
    assert plan_exposure((10, 50, 100), 0.5, 900, 200).steps == (45, 100)
    starved = plan_exposure((10, 50, 100), 0.1, 900, 200)
    assert starved.steps == (50, 100) and "even 50 % falls short" in starved.reason


def test_plan_without_a_rate_or_with_one_step_keeps_the_configuration() -> None:
    assert plan_exposure((10, 50, 100), None, 900, 200).steps == (10, 50, 100)
    assert plan_exposure((10, 50, 100), 0.0, 900, 200).steps == (10, 50, 100)
    assert plan_exposure((100,), 0.5, 900, 200).steps == (100,)


@pytest.mark.parametrize(
    ("setting", "extended", "action"),
    [("extend", False, "extend"), ("extend", True, "hold"), ("pause", False, "hold"),
     ("rollback", False, "extend"), ("rollback", True, "rollback")],
)
def test_an_inconclusive_end_holds_unless_the_operator_chose_rollback(setting, extended, action) -> None:
    assert inconclusive_action(setting, extended) == action


# ------------------------------------------------------- the pieces of judge_step, one by one


def test_step_totals_place_the_warm_up_and_carry_the_rollout_requests() -> None:
    carried = judge_step(P, Evidence(), healthy(range(5), 100, 900), 300).evidence
    samples = [sample(m, (100, 1, 5), (900, 4, 45)) for m in (13, 10, 12, 11)]
    totals = step_totals(P, carried, samples, step_started=T0 + 600)
    assert [s.start for s in totals.samples] == sorted(s.start for s in samples)
    assert [s.start for s in totals.warm] == [T0 + 720, T0 + 780]  # past the 120 s warm-up
    assert totals.requests == (400, 3600) and totals.errors == (4, 16)
    assert totals.warm_requests == (200, 1800) and totals.slow == (10, 90)
    assert len(totals.rows[Metric.ERRORS]) == 4 and len(totals.rows[Metric.SLOW]) == 2
    assert totals.rollout_candidate_requests == 500 + 400


def test_rise_guardrail_leaves_the_worst_window_out() -> None:
    def totals(rows: list[tuple[int, int]]) -> StepTotals:
        return step_totals(P, Evidence(), [sample(m, (1200, e, 60), (10800, 54, 540)) for m, e in rows])

    # one window at 10 %: could be a burst — nothing
    guard, lower = rise_guardrail(P, totals([(0, 120), (1, 6)]))
    assert guard.fail is None and lower is not None and lower < 0.02
    # two windows at 10 %: the rise stands without the worst one
    guard, lower = rise_guardrail(P, totals([(0, 120), (1, 120)]))
    assert guard.fail is not None and "the worst window left out" in guard.fail and lower > 0.02
    assert rise_guardrail(P, totals([(0, 120)])) == (Guardrail(), None)


def test_level_guardrail_notes_a_stable_over_the_limit_and_holds_on_thin_evidence() -> None:
    def totals(cand: tuple[int, int], stab: tuple[int, int], minutes: int = 3) -> StepTotals:
        return step_totals(P, Evidence(), [sample(m, (cand[0], cand[1], 0), (stab[0], stab[1], 0))
                                           for m in range(minutes)])

    shared = level_guardrail(P, totals((120, 10), (1080, 90)))
    assert shared.fail is None and not shared.holds and "stable is the baseline" in (shared.note or "")
    thin = level_guardrail(P, totals((20, 2), (180, 1)))
    assert thin.fail is None and thin.holds and "not conclusive yet" in (thin.note or "")
    assert level_guardrail(P, totals((2000, 200), (2000, 70))).fail is not None
    assert level_guardrail(P, totals((2000, 200), (2000, 70), minutes=2)) == Guardrail()  # worst one out


def test_the_warm_up_is_judged_apart_on_the_hard_p95_limit() -> None:
    def step(cand_p95: list[float]) -> list[Sample]:
        return [sample(m, (1200, 6, 60), (10800, 54, 540), (p95, 640.0)) for m, p95 in enumerate(cand_p95)]

    assert P.warmup_seconds == 120 and P.max_p95_seconds == 120
    # a candidate over 5 s from its first request: rolled back after 2 minutes, inside the warm-up
    hangs = judge_step(P, Evidence(), step([8000.0, 8000.0]), 120, step_started=T0)
    assert hangs.decision == "fail" and any("p95 8,000 ms vs 640 ms for 120 s" in r for r in hangs.reasons)
    # cold starts over the limit for a minute, then normal: not sustained, and the relative tests wait
    cold = judge_step(P, Evidence(), step([9000.0, 700.0, 450.0, 450.0, 450.0]), 300, step_started=T0)
    assert cold.decision == "pass", cold.reasons


def test_p95_guardrail_needs_the_candidate_alone_over_the_limit() -> None:
    def totals(cand: float, stab: float) -> StepTotals:
        samples = [sample(m, (1200, 6, 60), (10800, 54, 540), (cand, stab)) for m in range(2, 5)]
        return step_totals(P, Evidence(), samples, step_started=T0)

    assert "p95 6,200 ms vs 640 ms" in (p95_guardrail(P, totals(6200.0, 640.0)).fail or "")
    shared = p95_guardrail(P, totals(6200.0, 5800.0))
    assert shared.fail is None and "not the candidate's fault" in (shared.note or "")
    assert p95_guardrail(P, totals(450.0, 450.0)) == Guardrail()


def test_pass_check_by_evidence_by_tolerance_or_saying_what_is_missing() -> None:
    rich = metric_test(P, Metric.SLOW, MetricEvidence(), [(1200, 60, 10800, 540)] * 5)
    assert pass_check(P, rich).ok and pass_check(P, rich).reason.startswith("slow requests: no regression")
    rare = metric_test(P, Metric.ERRORS, MetricEvidence(), [(170, 0, 170, 1)] * 5)
    assert pass_check(P, rare).ok and "within the +2 pp limit" in pass_check(P, rare).reason
    thin = metric_test(P, Metric.SLOW, MetricEvidence(), [(12, 1, 108, 5)] * 3)
    check = pass_check(P, thin)
    assert not check.ok and check.reason.startswith("slow requests: not enough evidence yet")
    worse = metric_test(P, Metric.SLOW, MetricEvidence(), [(1200, 120, 10800, 540)] * 5)
    assert not pass_check(P, worse).ok and pass_check(P, worse).reason.startswith("slow requests: looks worse")


def test_a_burst_in_10_s_buckets_weighs_what_it_weighs_in_one_minute() -> None:
    def ten_second(minute: int, part: int, cand_errors: int) -> Sample:
        start = T0 + 60 * minute + 10 * part
        return Sample(start, start + 10, Counts(100, cand_errors, 5, 450.0), Counts(100, 1, 5, 450.0))

    # 45 retries of one client spread over one minute's six buckets, at 50 %, then quiet minutes
    bursty = [ten_second(0, p, 8) for p in range(6)] + [ten_second(m, p, 1) for m in range(1, 6) for p in range(6)]
    minute = [sample(0, (600, 48, 30), (600, 6, 30), (450.0, 450.0))] + [
        sample(m, (600, 6, 30), (600, 6, 30), (450.0, 450.0)) for m in range(1, 6)]
    ten = judge_step(P, Evidence(), bursty, 360)
    sixty = judge_step(P, Evidence(), minute, 360)
    assert ten.evidence.errors.llr == pytest.approx(sixty.evidence.errors.llr, abs=1.6)
    assert max(ten.evidence.errors.llr) <= P.window_evidence_cap
    assert ten.decision == sixty.decision == "pass"
    assert by_minute([(1, 0, 1, 0)] * 3, [(0.0, 10.0), (10.0, 20.0), (60.0, 70.0)]) == ((2, 0, 2, 0), (1, 0, 1, 0))
    assert by_minute([(1, 0, 1, 0)] * 2, [(0.0, 10.0), (60.0, 120.0)], complete_only=True) == ((1, 0, 1, 0),)


# ------------------------------------------------- request-log buckets: step-wide client bound


def keyed_bucket(k: int, cand: tuple[int, int, int], stab: tuple[int, int, int],
                 excess: tuple[int, int] = (0, 0)) -> Sample:
    """The k-th 10 s bucket of a step from a source that bounds each client over the step."""
    start = T0 + 10 * k
    return Sample(start, start + 10, Counts(*cand, client_excess=excess[0]), Counts(*stab, client_excess=excess[1]))


def test_counts_validate_client_excess() -> None:
    assert Counts(10, 2, 0, client_excess=2).client_excess == 2
    for bad in (-1, 3):
        with pytest.raises(ValueError, match="client_excess must be between 0 and errors"):
            Counts(10, 2, 0, client_excess=bad)


def test_client_excess_is_left_out_of_the_evidence_and_replaces_the_per_sample_bound() -> None:
    # 12 5xx on the candidate, 9 of them from clients already beyond their allowance for the step
    s = keyed_bucket(0, (100, 12, 5), (100, 1, 5), excess=(9, 0))
    assert step_totals(P, Evidence(), [s]).rows[Metric.ERRORS] == ((100, 3, 100, 1),)
    # given client_excess, the per-sample max_client_bad bound is not applied on top
    both = Sample(s.start, s.end, Counts(100, 12, 5, max_client_bad=12, client_excess=0), s.stable)
    assert step_totals(P, Evidence(), [both]).rows[Metric.ERRORS] == ((100, 12, 100, 1),)
    # without it, max_client_bad still bounds other sources per sample: 12 − (12 − 5)
    other = Sample(s.start, s.end, Counts(100, 12, 5, max_client_bad=12), Counts(100, 1, 5))
    assert step_totals(P, Evidence(), [other]).rows[Metric.ERRORS] == ((100, 5, 100, 1),)


def test_only_a_step_wide_client_bound_on_both_revisions_caps_per_keyed_seconds() -> None:
    keyed = keyed_bucket(0, (20, 2, 1), (180, 1, 9))
    assert sample_cap(P, Metric.ERRORS, keyed) == P.keyed_evidence_cap  # per 10 s ...
    assert P.keyed_evidence_cap > P.window_evidence_cap  # ... and more than an unkeyed minute: no retry storm in it
    assert sample_cap(P, Metric.SLOW, keyed) == P.latency_window_evidence_cap
    per_sample = Sample(keyed.start, keyed.end, Counts(20, 2, 1, max_client_bad=1), Counts(180, 1, 9, max_client_bad=1))
    one_side = Sample(keyed.start, keyed.end, keyed.candidate, Counts(180, 1, 9))
    for s in (per_sample, one_side):  # a burst over six buckets would count six times: per minute
        assert sample_cap(P, Metric.ERRORS, s) == pytest.approx(P.window_evidence_cap / 6)


def test_a_regression_in_keyed_10_s_buckets_is_rolled_back_within_half_a_minute() -> None:
    # 20 req/s at 10 %: the candidate at 10 % 5xx from many clients, stable at 0.5 %
    buckets = [keyed_bucket(k, (20, 2, 1), (180, 1, 9)) for k in range(6)]
    decisions = [judge_step(P, Evidence(), buckets[: k + 1], 10.0 * (k + 1), step_started=T0).decision
                 for k in range(6)]
    assert decisions[0] == "continue" and decisions[2] == "fail", decisions  # one bucket never decides
    v = judge_step(P, Evidence(), buckets, 60, step_started=T0)
    assert "likelihood ratio" in v.reasons[0] and "≥ 400 (" in v.reasons[0]  # the request log's 5xx boundary
    assert ("each 10 s adding at most 2.5 and each minute at most 8.09 in the step's first 60 s, 2.5 after, to ln LR, "
            "each client's 5xx beyond its allowance for the step left out") in v.reasons[0]
    # the same counts from a source that cannot bound clients over the step: capped per minute, not yet
    plain = [Sample(b.start, b.end, Counts(20, 2, 1), Counts(180, 1, 9)) for b in buckets]
    assert judge_step(P, Evidence(), plain, 60, step_started=T0).decision == "continue"


def test_on_the_request_log_the_5xx_boundary_is_a_tenth_of_its_alpha_and_elsewhere_unchanged() -> None:
    buckets = [keyed_bucket(k, (20, 0, 1), (180, 1, 9)) for k in range(6)]
    on_log = judge_step(P, Evidence(), buckets, 60, step_started=T0).metrics
    assert on_log["limits"]["request_log"] is True
    assert on_log["errors"]["rollback_at"] == pytest.approx(400)  # 1 / (0.05 × ½ × 0.1)
    assert on_log["slow"]["rollback_at"] == on_log["tail"]["rollback_at"] == pytest.approx(80)  # latency: as before
    plain = [Sample(b.start, b.end, Counts(20, 0, 1), Counts(180, 1, 9)) for b in buckets]
    monitoring = judge_step(P, Evidence(), plain, 60, step_started=T0).metrics
    assert monitoring["limits"]["request_log"] is False and monitoring["errors"]["rollback_at"] == pytest.approx(40)
    with pytest.raises(ValueError, match="request_log_errors_alpha_factor must be in"):
        JudgeParams(request_log_errors_alpha_factor=0)


def test_on_the_request_log_only_a_steps_first_minute_may_add_the_minute_cap() -> None:
    keyed = [keyed_bucket(k, (20, 0, 1), (180, 1, 9)) for k in (0, 5, 6, 20)]
    assert [sample_minute_cap(P, Metric.ERRORS, s, T0) for s in keyed] == pytest.approx(
        [P.minute_cap(Metric.ERRORS)] * 2 + [P.keyed_evidence_cap] * 2)
    assert sample_minute_cap(P, Metric.SLOW, keyed[3], T0) == P.latency_window_evidence_cap
    plain = Sample(keyed[3].start, keyed[3].end, Counts(20, 0, 1), Counts(180, 1, 9))
    assert sample_minute_cap(P, Metric.ERRORS, plain, T0) == P.minute_cap(Metric.ERRORS)  # 60 s windows: their own cap binds


def test_on_the_request_log_a_cluster_after_the_first_minute_must_last_to_decide() -> None:
    # 20 req/s at 10 %: a quiet first minute, then 10 % 5xx for under a minute, then quiet again. In the
    # step's first minute that is a regression (it decides in 30 s, above); later a cluster that short
    # adds at most one bucket's cap a minute (chance clusters among the candidate's few requests —
    # 4 5xx in 40 at 0.5 % — rolled back ~1 rollout in 2,000 at 20 req/s, bench/judge.py); with the first
    # minute's cap and the 5xx α of 60 s windows (the judge before) it would decide.
    def bucket(k: int, bad: int) -> Sample:
        return keyed_bucket(k, (20, bad, 1), (180, 1, 9))

    quiet = [bucket(k, 0) for k in range(6)]
    cluster = quiet + [bucket(k, 2) for k in range(6, 11)] + [bucket(k, 0) for k in range(11, 17)]
    step = JudgeParams(min_bake_seconds=300)
    before = replace(step, opening_seconds=math.inf, request_log_errors_alpha_factor=1.0)
    for params, expected in ((step, "continue"), (before, "fail")):
        looks = [judge_step(params, Evidence(), cluster[:k], 10.0 * k, step_started=T0).decision
                 for k in range(1, len(cluster) + 1)]
        assert expected in looks and (expected == "fail" or set(looks) == {"continue"}), looks
    # a rise that lasts decides after the first minute too (here the users' 5 %-for-2-minutes limit first)
    lasting = quiet + [bucket(k, 2) for k in range(6, 19)]
    assert judge_step(step, Evidence(), lasting[:-1], 180, step_started=T0).decision == "continue"
    v = judge_step(step, Evidence(), lasting, 190, step_started=T0)
    assert v.decision == "fail" and v.reasons[0].startswith("5xx 10.00 % for 120 s — limit 5 % for 120 s"), v.reasons


def test_a_bucket_past_the_first_minute_adds_only_what_its_clock_minute_has_left_and_never_subtracts() -> None:
    # T0 is 20 s into a clock minute: buckets 4–9 share one, 4–5 in the step's first minute, 6–9 after it
    buckets = [keyed_bucket(k, (20, 2, 1), (180, 1, 9)) for k in range(10)]
    totals = step_totals(P, Evidence(), buckets, step_started=T0)
    e = Metric.ERRORS
    assert totals.minute_caps[e] == pytest.approx([P.minute_cap(e)] * 6 + [P.keyed_evidence_cap] * 4)
    sums = [metric_test(P, e, MetricEvidence(), totals.rows[e][:k], totals.spans[e][:k], totals.caps[e][:k],
                        totals.minute_caps[e][:k]).total_llr for k in range(1, 11)]
    for before, after in zip(sums, sums[1:], strict=False):
        assert all(b >= a - 1e-9 for a, b in zip(before, after, strict=True)), (before, after)
    spent = [after - before for before, after in zip(sums[3], sums[5], strict=True)]  # by buckets 4–5
    added = [after - before for before, after in zip(sums[5], sums[9], strict=True)]  # by buckets 6–9
    assert any(x > P.keyed_evidence_cap for x in spent)
    assert all(x <= max(0.0, P.keyed_evidence_cap - s) + 1e-9 for x, s in zip(added, spent, strict=True))


def test_a_retry_burst_over_keyed_buckets_counts_its_clients_allowance_once() -> None:
    # 20 req/s at 50 %: one client retries a failing call 45 times over a minute's six buckets on the
    # candidate; the source counted 1 of them (its allowance) and reports the other 44 as excess
    burst = [keyed_bucket(k, (108, 8 if k < 3 else 7, 5), (100, 1, 5), excess=(7 if k == 0 else 8 if k < 3 else 7, 0))
             for k in range(6)]
    quiet = [keyed_bucket(k, (100, k % 2, 5), (100, (k + 1) % 2, 5)) for k in range(6, 36)]
    for k in range(1, 37):  # every look, as the engine's bake loop makes them
        v = judge_step(P, Evidence(), (burst + quiet)[:k], 10.0 * k, step_started=T0)
        assert v.decision != "fail", (k, v.reasons)
    assert v.metrics["errors"]["candidate_bad"] == 1 + 15
    # had the 45 been 45 clients, it is a regression, seen by the end of that minute
    many = [keyed_bucket(k, (108, 8 if k < 3 else 7, 5), (100, 1, 5)) for k in range(6)]
    assert judge_step(P, Evidence(), many, 60, step_started=T0).decision == "fail"


def test_the_buckets_of_one_minute_add_at_most_the_minute_cap_together() -> None:
    # 2000 req/s at 10 %, the candidate's 5xx rate steadily above stable's in every 10 s bucket
    row = (2000, 18, 18_000, 90)
    spans = [(T0 + 10 * k, T0 + 10 * k + 10) for k in range(12)]  # two clock minutes (T0 is one's start)
    assert T0 % 60 == 20  # the first clock minute holds 4 buckets, the second 6 (+ 2 of the third)
    caps = [P.keyed_evidence_cap] * 12
    capped = metric_test(P, Metric.ERRORS, MetricEvidence(), [row] * 12, spans, caps)
    free = metric_test(replace(P, minute_evidence_margin=1e9), Metric.ERRORS, MetricEvidence(), [row] * 12, spans, caps)
    per_bucket = window_llr(row, P.tolerated_ratio, P.keyed_evidence_cap)
    assert free.total_llr == pytest.approx([12 * x for x in per_bucket], abs=0.01)
    minutes = [4, 6, 2]  # buckets per clock minute
    assert P.minute_cap(Metric.ERRORS) == pytest.approx(1.35 * math.log(40))
    expected = [sum(min(n * x, P.minute_cap(Metric.ERRORS)) for n in minutes) for x in per_bucket]
    assert capped.total_llr == pytest.approx(expected, abs=0.01)
    assert max(capped.total_llr) < max(free.total_llr)
    # 60 s windows are capped per window below the minute cap: unchanged
    sixty = [(T0 + 60 * k, T0 + 60 * k + 60) for k in range(3)]
    assert metric_test(P, Metric.ERRORS, MetricEvidence(), [row] * 3, sixty).total_llr == pytest.approx(
        [3 * min(x, P.window_evidence_cap) for x in window_llr(row, P.tolerated_ratio)], abs=0.01)


def test_one_minute_decides_once_three_of_the_mixtures_ten_alternatives_reach_the_minute_cap() -> None:
    # a big regression lifts the weak alternatives (ψ 1.4–2.8) little: the strong ones carry the mixture
    boundary, cap = math.log(P.rollback_at(Metric.ERRORS)), P.minute_cap(Metric.ERRORS)
    weak = 0.5
    three = [weak] * 7 + [cap] * 3
    assert mixture_log_lr(three) >= boundary  # one clear minute decides ...
    assert mixture_log_lr([0.0] * 9 + [cap]) < boundary  # ... one alternative alone (a steady small excess) does not
    assert mixture_log_lr([0.0] * 9 + [2 * cap]) >= boundary  # ... until a second minute


def test_on_the_request_log_a_step_does_not_pass_while_the_tail_test_leans_toward_a_regression() -> None:
    # a minute and a half in, 5xx and slow requests say "no regression", but two of the candidate's
    # requests were over the tail threshold and none of stable's: the tail test has not decided yet
    def bucket(k: int, tail: int, keyed: bool = True) -> Sample:
        excess = 0 if keyed else None
        start = T0 + 10 * k
        return Sample(start, start + 10, Counts(200, 1, 10, tail=tail, client_excess=excess, warm_requests=200),
                      Counts(1800, 9, 90, tail=0, client_excess=excess, warm_requests=1800))

    fast = JudgeParams(min_bake_seconds=60)
    tails = (0, 0, 0, 1, 0, 0, 1, 0, 0)
    v = judge_step(fast, Evidence(), [bucket(k, t) for k, t in enumerate(tails)], 90, step_started=T0)
    assert v.decision == "continue", v.reasons
    assert "tail requests lean toward a regression (likelihood ratio 19.1, past √80 = 8.9): not passing before " \
           "the tail test decides" in v.reasons
    # without a tail event it passes; from a source without the step-wide client bound the hold does not apply
    assert judge_step(fast, Evidence(), [bucket(k, 0) for k in range(9)], 90, step_started=T0).decision == "pass"
    plain = [bucket(k, t, keyed=False) for k, t in enumerate(tails)]
    assert judge_step(fast, Evidence(), plain, 90, step_started=T0).decision == "pass"
