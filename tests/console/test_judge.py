"""Unit tests of the judge (pure: no I/O, no clock)."""

from __future__ import annotations

import json
import math

import pytest

from console.judge import (
    PSI_GRID,
    Counts,
    Evidence,
    JudgeParams,
    MetricEvidence,
    Sample,
    ell,
    judge_step,
    mixture_log_lr,
    psi_interval,
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
    samples = [sample(m, (1200, 120, 60), (10800, 54, 540)) for m in range(2)]
    v = judge_step(P, Evidence(), samples, 120)
    assert v.decision == "fail"
    text = "\n".join(v.reasons)
    assert "10.00 %" in text and "0.50 %" in text
    assert "limit +2 pp" in text
    assert "likelihood ratio" in text
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
    assert "180 requests — need 200" in text
    assert "not enough" in text
    assert "bad events in total" in text
    assert "max bake 900 s" in v.reasons[0]


def test_low_traffic_noise_does_not_trip_the_rise_guardrail() -> None:
    # one 5xx out of 12 requests is 8.3 % vs stable 0.5 %: a naive +2 pp rule fires
    v = judge_step(P, Evidence(), [sample(0, (12, 1, 0), (108, 0, 5))], 60)
    assert v.decision == "continue"


def test_incident_shared_by_both_revisions_is_not_a_fail() -> None:
    samples = healthy(range(2), 120, 1080) + [
        sample(m, (120, 12, 6), (1080, 97, 54)) for m in range(2, 5)
    ]
    v = judge_step(P, Evidence(), samples, 300)
    assert v.decision == "continue"  # no rollback, and no promotion during the incident
    assert any("stable is at 8.98 % too" in r and "not the candidate's fault" in r for r in v.reasons)
    over = healthy(range(6, 8), 120, 1080)
    assert judge_step(P, Evidence(), samples + over, 480).decision == "pass"


def test_sustained_5xx_level_on_the_candidate_alone_fails() -> None:
    # 3 pp over stable at 3.5 %: under the +2 pp rule's bound but over 5 % for 2 minutes
    base = [sample(m, (2000, 10, 100), (2000, 10, 100)) for m in range(3)]
    bad = [sample(m, (2000, 200, 100), (2000, 140, 100)) for m in range(3, 5)]
    v = judge_step(JudgeParams(max_error_rate_increase_pp=50), Evidence(), base + bad, 300)
    assert v.decision == "fail"
    assert any("limit 5 % for 120 s" in r for r in v.reasons)


def test_evidence_is_carried_between_steps() -> None:
    # a mild regression (ψ = 2 on 5xx): not enough in one step, enough over three
    def step(first_minute: int) -> list[Sample]:
        return [sample(first_minute + m, (100, 1, 5), (900, 4, 45)) for m in range(10)]

    # a tight tolerance, so only the sequential test decides here
    params = JudgeParams(max_bake_seconds=600, max_error_rate_increase_pp=0.1)
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
    # a new step with too little traffic must not pass on the previous step's evidence
    v = judge_step(P, very_healthy, healthy(range(10, 15), 50, 50), 300)
    assert v.decision == "continue"


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
    # the same latency after the warm-up is a regression
    late = judge_step(P, Evidence(), samples, 300, step_started=T0 - 600)
    assert late.decision == "fail"


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
    assert "lower than stable by ≥ " in reasons and "rise ≤ -" not in reasons
