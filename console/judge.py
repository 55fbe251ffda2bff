"""The judge: compare a candidate revision with the stable one, step by step.

Pure functions, no I/O, no clock reads. Per rollout step the caller passes the
complete 60 s samples of the step (per-revision request, 5xx and slow counts) and
the evidence carried from the previous steps; :func:`judge_step` returns a
:class:`Verdict` — ``pass``, ``fail``, ``inconclusive`` or ``continue`` — with
reasons that carry the numbers.

Statistics (DESIGN.md, "The judge"):

* Two bad-event metrics per revision and sample: 5xx responses, and slow requests
  (slower than a latency threshold the caller chose).
* For ψ = candidate bad-rate ÷ stable bad-rate one sample adds
  ℓ(ψ) = b_c·ln ψ − (b_c + b_s)·ln((ψ·n_c + n_s)/(n_c + n_s)), the log likelihood
  ratio of "which revision the bad events came from" given their total. The unknown
  baseline rate, the traffic split and drift shared by both revisions cancel.
* Roll back when the mixture likelihood ratio, mean of exp(Σℓ(ψ_k)) over
  ψ_k = 2^(k/2), k = 1…10, summed over the whole rollout, reaches 1/α_metric
  (α split evenly across the two metrics). Under "no change" it is a non-negative
  martingale, so false rollbacks stay ≤ α however often the judge looks (mSPRT).
* Promote a step early after the minimum bake when the step's own Σℓ(2) is
  ≤ ln(β/(1−α)) for both metrics and the candidate served ``min_requests``.
* The users' hard limits are kept as guardrails, made robust so that they neither
  fire on noise nor on incidents shared by both revisions (see :func:`judge_step`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Sequence

__all__ = [
    "PSI_GRID",
    "Counts",
    "Sample",
    "JudgeParams",
    "MetricEvidence",
    "Evidence",
    "Verdict",
    "ell",
    "mixture_log_lr",
    "psi_interval",
    "judge_step",
]

PASS, FAIL, INCONCLUSIVE, CONTINUE = "pass", "fail", "inconclusive", "continue"

#: The alternatives of the mixture: ψ_k = 2^(k/2), k = 1…10 (√2 … 32).
PSI_GRID: tuple[float, ...] = tuple(2 ** (k / 2) for k in range(1, 11))
_LN_PSI: tuple[float, ...] = tuple(math.log(p) for p in PSI_GRID)
_K_PROMOTE = 1  # index of ψ = 2 in PSI_GRID
_METRICS = ("errors", "slow")
_LABEL = {"errors": "5xx", "slow": "slow requests"}
_MAX_STRATA = 6  # per metric in Evidence; older steps are merged beyond this
_CHI2_1_95_HALF = 1.920729  # χ²₁(0.95) / 2, for the profile-likelihood interval
_LN_PSI_RANGE = math.log(1e4)  # ψ intervals are searched within [1e-4, 1e4]


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Counts:
    """One revision in one sample."""

    requests: int
    errors: int  # 5xx responses
    slow: int  # requests slower than the latency threshold
    p95_ms: float | None = None

    def __post_init__(self) -> None:
        if self.requests < 0:
            raise ValueError(f"requests must be ≥ 0, got {self.requests}")
        for name in ("errors", "slow"):
            value = getattr(self, name)
            if not 0 <= value <= self.requests:
                raise ValueError(
                    f"{name} must be between 0 and requests ({self.requests}), got {value}"
                )
        if self.p95_ms is not None and not self.p95_ms >= 0:
            raise ValueError(f"p95_ms must be ≥ 0 or None, got {self.p95_ms}")


@dataclass(frozen=True)
class Sample:
    """One complete 60 s window, the same for both revisions."""

    start: float  # unix seconds
    end: float
    candidate: Counts
    stable: Counts

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"sample end {self.end} must be after start {self.start}")


@dataclass(frozen=True)
class JudgeParams:
    """Limits and error rates of the judge (defaults: DESIGN.md and the seed's rules)."""

    alpha: float = 0.05  # false-rollback bound per rollout, split across the 2 metrics
    beta: float = 0.10
    max_error_rate_increase_pp: float = 2.0  # guardrail: 5xx rise over stable, points
    max_error_rate: float = 0.05  # guardrail: 5xx fraction ...
    max_error_rate_seconds: float = 120  # ... sustained this long
    max_p95_ms: float = 5000  # guardrail: candidate p95 ...
    max_p95_seconds: float = 120  # ... sustained this long (while stable's is not)
    min_requests: int = 200  # candidate requests needed in a step before it can pass
    min_bake_seconds: float = 300
    max_bake_seconds: float = 900
    warmup_seconds: float = 120  # candidate's first seconds of a step: latency ignored
    guardrail_confidence: float = 0.999  # one-sided, for the numeric guardrails

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1 or not 0 < self.beta < 1:
            raise ValueError("alpha and beta must be between 0 and 1")
        if not 0.5 < self.guardrail_confidence < 1:
            raise ValueError("guardrail_confidence must be between 0.5 and 1")
        if self.max_bake_seconds < self.min_bake_seconds:
            raise ValueError("max_bake_seconds must be ≥ min_bake_seconds")

    @property
    def alpha_metric(self) -> float:
        return self.alpha / len(_METRICS)

    @property
    def rollback_log_lr(self) -> float:
        """ln(1/α_metric): the mixture log likelihood ratio that rolls back."""
        return -math.log(self.alpha_metric)

    @property
    def promote_llr(self) -> float:
        """ln(β/(1−α)): the step's Σℓ(2) at or below which the step may pass."""
        return math.log(self.beta / (1 - self.alpha))


# ------------------------------------------------------------------------- evidence

Stratum = tuple[int, int, int, int]  # (n_c, b_c, n_s, b_s)


@dataclass(frozen=True)
class MetricEvidence:
    """Sequential-test state of one metric over the rollout so far.

    ``llr[k]`` is Σℓ(ψ_k) over every sample seen; ``strata`` holds the per-step
    totals (n_c, b_c, n_s, b_s) used for the ψ interval (one stratum per step
    because the traffic split changes between steps).
    """

    llr: tuple[float, ...] = (0.0,) * len(PSI_GRID)
    strata: tuple[Stratum, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"llr": list(self.llr), "strata": [list(s) for s in self.strata]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricEvidence:
        llr = tuple(float(x) for x in data.get("llr", ()))
        if len(llr) != len(PSI_GRID):
            raise ValueError(f"evidence llr needs {len(PSI_GRID)} values, got {len(llr)}")
        strata = []
        for s in data.get("strata", ()):
            if len(s) != 4:
                raise ValueError(f"evidence stratum needs 4 counts, got {s!r}")
            strata.append(tuple(int(x) for x in s))
        return cls(llr=llr, strata=tuple(strata))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Evidence:
    """The running sequential-test state, carried from step to step.

    Stored on the service (a Cloud Run annotation): ``to_dict()`` is small (well
    under 1 KB as compact JSON) and ``from_dict(to_dict(e)) == e``. The Σℓ values are
    rounded to 3 decimals when the judge builds the evidence, so the round trip is exact.
    """

    errors: MetricEvidence = field(default_factory=MetricEvidence)
    slow: MetricEvidence = field(default_factory=MetricEvidence)
    steps: int = 0  # steps included (the current one too, in a verdict)
    samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": 1,
            "steps": self.steps,
            "samples": self.samples,
            "errors": self.errors.to_dict(),
            "slow": self.slow.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evidence:
        if data.get("v", 1) != 1:
            raise ValueError(f"unknown evidence version {data.get('v')!r}")
        return cls(
            errors=MetricEvidence.from_dict(data.get("errors", {"llr": [0.0] * 10})),
            slow=MetricEvidence.from_dict(data.get("slow", {"llr": [0.0] * 10})),
            steps=int(data.get("steps", 0)),
            samples=int(data.get("samples", 0)),
        )


@dataclass(frozen=True)
class Verdict:
    decision: str  # "pass" | "fail" | "inconclusive" | "continue"
    reasons: tuple[str, ...]
    evidence: Evidence  # carried + this step's samples
    metrics: dict[str, Any]  # JSON-ready measured values, limits and test statistics


# ---------------------------------------------------------------------- statistics


def ell(psi: float, n_c: int, b_c: int, n_s: int, b_s: int) -> float:
    """ℓ(ψ) of one sample: b_c·ln ψ − (b_c + b_s)·ln((ψ·n_c + n_s)/(n_c + n_s))."""
    n = n_c + n_s
    if n == 0 or b_c + b_s == 0:
        return 0.0
    return b_c * math.log(psi) - (b_c + b_s) * math.log((psi * n_c + n_s) / n)


def _llr_sums(rows: Sequence[Stratum]) -> list[float]:
    """Σℓ(ψ_k) over rows, for every ψ_k of the grid."""
    sums = [0.0] * len(PSI_GRID)
    for n_c, b_c, n_s, b_s in rows:
        n, b = n_c + n_s, b_c + b_s
        if n == 0 or b == 0:
            continue
        for k, (psi, ln_psi) in enumerate(zip(PSI_GRID, _LN_PSI)):
            sums[k] += b_c * ln_psi - b * math.log((psi * n_c + n_s) / n)
    return sums


def mixture_log_lr(llr: Sequence[float]) -> float:
    """ln of the mixture likelihood ratio: ln mean_k exp(Σℓ(ψ_k))."""
    top = max(llr)
    return top + math.log(sum(math.exp(x - top) for x in llr) / len(llr))


def _stratified_loglik(theta: float, strata: Sequence[Stratum]) -> float:
    e = math.exp(theta)
    return sum(
        b_c * theta - (b_c + b_s) * math.log((e * n_c + n_s) / (n_c + n_s))
        for n_c, b_c, n_s, b_s in strata
    )


def _stratified_score(theta: float, strata: Sequence[Stratum]) -> float:
    e = math.exp(theta)
    return sum(b_c - (b_c + b_s) * e * n_c / (e * n_c + n_s) for n_c, b_c, n_s, b_s in strata)


def _bisect(f, lo: float, hi: float, iterations: int = 36) -> float:
    """Root of a function with f(lo) > 0 > f(hi) (or the reverse)."""
    f_lo = f(lo)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        if (f(mid) > 0) == (f_lo > 0):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def psi_interval(
    strata: Sequence[Stratum],
) -> tuple[float | None, float | None, float | None]:
    """(estimate, lower, upper) of ψ with a 95 % profile-likelihood interval.

    Conditional on the bad events of each stratum, b_c ~ Bin(b_c + b_s,
    ψ·n_c/(ψ·n_c + n_s)); strata (steps) share ψ but not the traffic split. The
    interval is {ψ : 2·(ℓ(ψ̂) − ℓ(ψ)) ≤ χ²₁(0.95)}. A lower bound is 0 when ψ = 0
    cannot be excluded; an unbounded estimate or upper bound is None. All None when
    there are no bad events at all (nothing to estimate).
    """
    used = [s for s in strata if s[0] > 0 and s[2] > 0 and s[1] + s[3] > 0]
    if not used:
        return None, None, None
    lo_t, hi_t = -_LN_PSI_RANGE, _LN_PSI_RANGE
    if _stratified_score(lo_t, used) <= 0:
        theta_hat = lo_t
    elif _stratified_score(hi_t, used) >= 0:
        theta_hat = hi_t
    else:
        theta_hat = _bisect(lambda t: _stratified_score(t, used), lo_t, hi_t)
    top = _stratified_loglik(theta_hat, used)

    def drop(t: float) -> float:
        return top - _stratified_loglik(t, used) - _CHI2_1_95_HALF

    lower: float | None
    upper: float | None
    if theta_hat <= lo_t or drop(lo_t) <= 0:
        lower = 0.0
    else:
        lower = math.exp(_bisect(drop, lo_t, theta_hat))
    if theta_hat >= hi_t or drop(hi_t) <= 0:
        upper = None
    else:
        upper = math.exp(_bisect(drop, theta_hat, hi_t))
    estimate = None if theta_hat >= hi_t else (0.0 if theta_hat <= lo_t else math.exp(theta_hat))
    return estimate, lower, upper


def _wilson(bad: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (z-sided)."""
    if n == 0:
        return 0.0, 1.0
    p = bad / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _diff_upper(b_c: int, n_c: int, b_s: int, n_s: int, z: float) -> float:
    """One-sided upper confidence bound of p_c − p_s (Newcombe's hybrid score); 1 without data."""
    if n_c == 0 or n_s == 0:
        return 1.0
    p_c, p_s = b_c / n_c, b_s / n_s
    _, u_c = _wilson(b_c, n_c, z)
    l_s, _ = _wilson(b_s, n_s, z)
    return (p_c - p_s) + math.sqrt((u_c - p_c) ** 2 + (p_s - l_s) ** 2)


def _diff_lower(b_c: int, n_c: int, b_s: int, n_s: int, z: float) -> float:
    """One-sided lower confidence bound of p_c − p_s (Newcombe's hybrid score).

    Holds its level at small counts, unlike the Wald interval; -1 without data.
    """
    if n_c == 0 or n_s == 0:
        return -1.0
    p_c, p_s = b_c / n_c, b_s / n_s
    l_c, _ = _wilson(b_c, n_c, z)
    _, u_s = _wilson(b_s, n_s, z)
    return (p_c - p_s) - math.sqrt((p_c - l_c) ** 2 + (u_s - p_s) ** 2)


# ------------------------------------------------------------------------- helpers


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def _ratio(x: float) -> str:
    if x >= 1e6:
        return f"{x:.2e}"
    return f"{x:,.1f}" if x >= 10 else f"{x:.2f}"


def _psi_text(lo: float | None, hi: float | None) -> str:
    if lo is None:
        return "ψ unknown"
    hi_text = "∞" if hi is None else f"{hi:.2g}"
    return f"ψ 95 % interval {lo:.2g}–{hi_text}"


def _rate(b: int, n: int) -> float | None:
    return b / n if n else None


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def _merge_strata(strata: tuple[Stratum, ...]) -> tuple[Stratum, ...]:
    while len(strata) > _MAX_STRATA:
        a, b = strata[0], strata[1]
        merged = tuple(x + y for x, y in zip(a, b))
        strata = (merged, *strata[2:])  # type: ignore[assignment]
    return strata


@dataclass
class _MetricState:
    name: str
    step_rows: list[Stratum]
    step_llr: list[float]
    total_llr: tuple[float, ...]
    strata: tuple[Stratum, ...]
    log_lr: float
    psi_hat: float | None
    psi_lo: float | None
    psi_hi: float | None

    @property
    def bad_events(self) -> int:
        return sum(s[1] + s[3] for s in self.strata)

    @property
    def totals(self) -> Stratum:
        n_c = sum(s[0] for s in self.strata)
        b_c = sum(s[1] for s in self.strata)
        n_s = sum(s[2] for s in self.strata)
        b_s = sum(s[3] for s in self.strata)
        return n_c, b_c, n_s, b_s


def _metric_state(name: str, carried: MetricEvidence, rows: list[Stratum]) -> _MetricState:
    step_llr = _llr_sums(rows)
    total = tuple(round(a + b, 3) for a, b in zip(carried.llr, step_llr))
    step_stratum = tuple(sum(r[i] for r in rows) for i in range(4))
    strata = carried.strata
    if rows:
        strata = _merge_strata((*strata, step_stratum))  # type: ignore[arg-type]
    psi_hat, lo, hi = psi_interval(strata)
    return _MetricState(
        name=name,
        step_rows=rows,
        step_llr=step_llr,
        total_llr=total,
        strata=strata,
        log_lr=mixture_log_lr(total),
        psi_hat=psi_hat,
        psi_lo=lo,
        psi_hi=hi,
    )


def _sustained_tail(samples: Sequence[Sample], breached) -> list[Sample]:
    """The latest run of consecutive samples for which ``breached(sample)`` holds."""
    run: list[Sample] = []
    for s in reversed(samples):
        if not breached(s):
            break
        run.append(s)
    run.reverse()
    return run


def _span(run: Sequence[Sample]) -> float:
    return sum(s.end - s.start for s in run)


# ---------------------------------------------------------------------------- judge


def judge_step(
    params: JudgeParams,
    carried: Evidence,
    samples: Sequence[Sample],
    baked_seconds: float,
    *,
    health_failed: str | None = None,
    crash_looping: bool = False,
    step_started: float | None = None,
) -> Verdict:
    """Judge the current step from ``carried`` evidence plus all its ``samples``.

    Idempotent: call it again with more samples of the same step and it recomputes.
    At the end of a step store ``verdict.evidence`` and pass it as ``carried`` to the
    next one: the mixture likelihood ratio is summed over the whole rollout, the
    early-promotion statistic Σℓ(2) is the step's own.

    ``step_started`` (unix seconds) places the latency warm-up; by default the first
    sample's start. Samples that start within ``warmup_seconds`` of it count for 5xx
    but not for latency (slow events, p95): cold starts are not a regression.

    Order of decisions: failed health/smoke check or crash loop → fail; the mixture
    likelihood ratio of either metric ≥ 1/α_metric → fail; a guardrail → fail; after
    the minimum bake, Σℓ(2) ≤ ln(β/(1−α)) for both metrics with ≥ ``min_requests``
    candidate requests → pass; at the maximum bake → inconclusive; else continue.

    Guardrails, made robust so they keep the false-rollback bound:

    * 5xx rise: over the step, the one-sided ``guardrail_confidence`` lower bound of
      p_c − p_s must exceed ``max_error_rate_increase_pp`` (a point estimate on 60 s
      of low traffic would fire on noise).
    * 5xx level: the candidate's rate above ``max_error_rate`` in every sample of the
      latest ``max_error_rate_seconds``, its pooled lower bound above the limit too,
      and the candidate significantly worse than stable. When stable is over the limit
      as well it is an incident shared by both revisions: no fail, a reason says so.
    * p95: the candidate's p95 above ``max_p95_ms`` in every (post-warm-up) sample of
      the latest ``max_p95_seconds`` while stable's is not.
    """
    samples = sorted(samples, key=lambda s: s.start)
    if step_started is None:
        step_started = samples[0].start if samples else 0.0
    warm = [s for s in samples if s.start >= step_started + params.warmup_seconds]

    err_rows: list[Stratum] = [
        (s.candidate.requests, s.candidate.errors, s.stable.requests, s.stable.errors)
        for s in samples
    ]
    slow_rows: list[Stratum] = [
        (s.candidate.requests, s.candidate.slow, s.stable.requests, s.stable.slow) for s in warm
    ]
    states = {
        "errors": _metric_state("errors", carried.errors, err_rows),
        "slow": _metric_state("slow", carried.slow, slow_rows),
    }
    evidence = Evidence(
        errors=MetricEvidence(states["errors"].total_llr, states["errors"].strata),
        slow=MetricEvidence(states["slow"].total_llr, states["slow"].strata),
        steps=carried.steps + 1,
        samples=carried.samples + len(samples),
    )

    z = NormalDist().inv_cdf(params.guardrail_confidence)
    n_c = sum(s.candidate.requests for s in samples)
    e_c = sum(s.candidate.errors for s in samples)
    n_s = sum(s.stable.requests for s in samples)
    e_s = sum(s.stable.errors for s in samples)
    wn_c = sum(s.candidate.requests for s in warm)
    ws_c = sum(s.candidate.slow for s in warm)
    wn_s = sum(s.stable.requests for s in warm)
    ws_s = sum(s.stable.slow for s in warm)
    p95_c = _median([s.candidate.p95_ms for s in warm if s.candidate.p95_ms is not None])
    p95_s = _median([s.stable.p95_ms for s in warm if s.stable.p95_ms is not None])

    fail: list[str] = []
    notes: list[str] = []

    # --- checks outside the statistics
    if health_failed:
        fail.append(f"health/smoke check failed: {health_failed}")
    if crash_looping:
        fail.append("candidate revision is crash-looping")

    # --- the sequential test, per metric
    boundary = 1 / params.alpha_metric
    for st in states.values():
        if st.log_lr >= params.rollback_log_lr:
            n_ct, b_ct, n_st, b_st = st.totals
            latency, counted = "", f"{n_ct:,} candidate requests"
            if st.name == "slow":
                if p95_c is not None:
                    latency = f" (p95 {p95_c:,.0f} ms" + (f" vs {p95_s:,.0f} ms)" if p95_s is not None else ")")
                if params.warmup_seconds:  # fewer than the step's requests: say why
                    counted += f" past each step's {params.warmup_seconds:g} s warm-up"
            fail.append(
                f"{_LABEL[st.name]} {_pct(b_ct / n_ct)} vs stable {_pct(b_st / n_st)}{latency} — "
                f"evidence of regression: likelihood ratio {_ratio(math.exp(min(st.log_lr, 700)))} "
                f"≥ {boundary:g} ({_psi_text(st.psi_lo, st.psi_hi)}, {counted})"
            )

    # --- guardrail: 5xx rise over stable
    limit_pp = params.max_error_rate_increase_pp / 100
    rise_lower = _diff_lower(e_c, n_c, e_s, n_s, z)
    if rise_lower > limit_pp:
        fail.append(
            f"5xx {_pct(e_c / n_c)} vs stable {_pct(e_s / n_s)} — limit "
            f"+{params.max_error_rate_increase_pp:g} pp (rise ≥ {rise_lower * 100:.1f} pp at "
            f"{params.guardrail_confidence * 100:g} % confidence, {n_c:,} requests)"
        )

    # --- guardrail: 5xx level sustained
    run = _sustained_tail(
        samples,
        lambda s: s.candidate.requests > 0
        and s.candidate.errors / s.candidate.requests > params.max_error_rate,
    )
    if run and _span(run) >= params.max_error_rate_seconds:
        rn_c = sum(s.candidate.requests for s in run)
        re_c = sum(s.candidate.errors for s in run)
        rn_s = sum(s.stable.requests for s in run)
        re_s = sum(s.stable.errors for s in run)
        rate_c = re_c / rn_c
        rate_s = re_s / rn_s if rn_s else 0.0
        head = (
            f"5xx {_pct(rate_c)} for {_span(run):.0f} s — limit "
            f"{params.max_error_rate * 100:g} % for {params.max_error_rate_seconds:g} s"
        )
        if rn_s and rate_s > params.max_error_rate:
            notes.append(
                f"{head}, but stable is at {_pct(rate_s)} too: an incident shared by both "
                "revisions, not the candidate's fault"
            )
        elif (
            _wilson(re_c, rn_c, z)[0] > params.max_error_rate
            and _diff_lower(re_c, rn_c, re_s, rn_s, z) > 0
        ):
            fail.append(f"{head} (stable {_pct(rate_s)}, {rn_c:,} requests)")
        else:
            notes.append(f"{head}, on only {rn_c:,} requests — not conclusive yet")

    # --- guardrail: p95 sustained
    p95_run = _sustained_tail(
        warm,
        lambda s: s.candidate.p95_ms is not None and s.candidate.p95_ms > params.max_p95_ms,
    )
    if p95_run and _span(p95_run) >= params.max_p95_seconds:
        stable_ok = [
            s for s in p95_run if s.stable.p95_ms is None or s.stable.p95_ms <= params.max_p95_ms
        ]
        worst_c = _median([s.candidate.p95_ms for s in p95_run])  # type: ignore[misc]
        stable_vals = [s.stable.p95_ms for s in p95_run if s.stable.p95_ms is not None]
        worst_s = _median(stable_vals)
        vs = f" vs {worst_s:,.0f} ms" if worst_s is not None else ""
        head = (
            f"p95 {worst_c:,.0f} ms{vs} for {_span(p95_run):.0f} s — limit "
            f"{params.max_p95_ms:,.0f} ms for {params.max_p95_seconds:g} s"
        )
        if len(stable_ok) == len(p95_run):
            fail.append(head)
        else:
            notes.append(f"{head}, but stable is over the limit too: not the candidate's fault")

    metrics = _metrics(
        params, states, baked_seconds, len(samples), (n_c, e_c, n_s, e_s),
        (wn_c, ws_c, wn_s, ws_s), (p95_c, p95_s), rise_lower,
    )
    if fail:
        return Verdict(FAIL, tuple(fail + notes), evidence, metrics)

    # --- pass / inconclusive / continue
    reasons: list[str] = []
    enough_requests = n_c >= params.min_requests
    promotable = {
        name: st.step_llr[_K_PROMOTE] <= params.promote_llr and bool(st.step_rows)
        for name, st in states.items()
    }
    # With a low 5xx base rate the SPRT needs tens of thousands of requests to accept "no
    # change"; the operators' own tolerance (+max_error_rate_increase_pp) decides instead once
    # the step's rise is bounded under it with 1 − β confidence. The mSPRT keeps watching
    # in the next (larger) step, so a smaller regression is still caught there.
    z_pass = NormalDist().inv_cdf(1 - params.beta)
    rise_upper = _diff_upper(e_c, n_c, e_s, n_s, z_pass)
    within_tolerance = n_c > 0 and n_s > 0 and rise_upper < limit_pp
    if within_tolerance and not promotable["errors"]:
        promotable["errors"] = True
        bound = (f"rise ≤ {rise_upper * 100:.2f} pp" if rise_upper >= 0 else
                 f"lower than stable by ≥ {-rise_upper * 100:.2f} pp")  # a negative "rise" reads as a typo
        reasons_tolerance = (
            f"5xx {_pct(e_c / n_c)} vs stable {_pct(e_s / n_s)} — within the "
            f"+{params.max_error_rate_increase_pp:g} pp limit: {bound} at {(1 - params.beta) * 100:g} % confidence"
        )
    else:
        reasons_tolerance = None
    if enough_requests:
        reasons.append(f"{n_c:,} candidate requests (need {params.min_requests:,})")
    else:
        reasons.append(f"{n_c:,} requests — need {params.min_requests:,}")
    for name, st in states.items():
        if name == "errors" and reasons_tolerance:
            reasons.append(reasons_tolerance)
        else:
            reasons.append(_metric_reason(params, st, promotable[name], boundary))
    if p95_c is not None:
        vs = f" vs {p95_s:,.0f} ms" if p95_s is not None else ""
        reasons.append(f"p95 {p95_c:,.0f} ms{vs} — limit {params.max_p95_ms:,.0f} ms")

    # A guardrail breached without being the candidate's (provable) fault — a shared
    # incident, too few requests — holds the step: no promotion while it lasts.
    ready = (
        baked_seconds >= params.min_bake_seconds and enough_requests and all(promotable.values())
    )
    if ready and not notes:
        return Verdict(PASS, tuple(reasons), evidence, metrics)
    if baked_seconds >= params.max_bake_seconds:
        head = (
            f"no decision after {baked_seconds:.0f} s (max bake {params.max_bake_seconds:g} s)"
        )
        return Verdict(INCONCLUSIVE, (head, *notes, *reasons), evidence, metrics)
    if baked_seconds < params.min_bake_seconds:
        head = f"baked {baked_seconds:.0f} s of the {params.min_bake_seconds:g} s minimum"
    elif ready:
        head = f"baked {baked_seconds:.0f} s — ready, but holding while a guardrail is breached"
    else:
        head = f"baked {baked_seconds:.0f} s, no decision yet (max {params.max_bake_seconds:g} s)"
    return Verdict(CONTINUE, (head, *notes, *reasons), evidence, metrics)


def _metric_reason(params: JudgeParams, st: _MetricState, promotable: bool, boundary: float) -> str:
    label = _LABEL[st.name]
    n_c, b_c, n_s, b_s = st.totals
    if n_c == 0 or n_s == 0:
        return f"{label}: no requests to compare yet"
    p_c, p_s = b_c / n_c, b_s / n_s
    rates = f"{label} {_pct(p_c)} vs stable {_pct(p_s)}"
    interval = _psi_text(st.psi_lo, st.psi_hi)
    lr = math.exp(min(st.log_lr, 700))
    if promotable:
        return (
            f"{rates} — no regression: step Σℓ(2) {st.step_llr[_K_PROMOTE]:.2f} ≤ "
            f"{params.promote_llr:.2f} ({interval})"
        )
    b = st.bad_events
    if st.psi_lo is not None and st.psi_lo > 1:
        return (
            f"{rates} — evidence of regression: likelihood ratio {_ratio(lr)} of "
            f"{boundary:g} needed ({interval})"
        )
    if st.psi_hi is None or st.psi_hi > 2:
        worse = "a much higher rate" if st.psi_hi is None or p_s == 0 else _pct(p_s * st.psi_hi)
        return (
            f"{rates}: {b:,} bad events in total — not enough to tell {_pct(p_s)} from "
            f"{worse} ({interval}; likelihood ratio {_ratio(lr)} of {boundary:g})"
        )
    return (
        f"{rates} — no sign of regression yet ({interval}; step Σℓ(2) "
        f"{st.step_llr[_K_PROMOTE]:.2f}, pass at ≤ {params.promote_llr:.2f})"
    )


def _metrics(
    params: JudgeParams,
    states: dict[str, _MetricState],
    baked_seconds: float,
    n_samples: int,
    err: Stratum,
    slow: Stratum,
    p95: tuple[float | None, float | None],
    rise_lower: float,
) -> dict[str, Any]:
    n_c, e_c, n_s, e_s = err
    wn_c, ws_c, wn_s, ws_s = slow

    def revision(n: int, e: int, wn: int, ws: int, p: float | None) -> dict[str, Any]:
        return {
            "requests": n,
            "errors": e,
            "error_rate": _rate(e, n),
            "slow_requests_after_warmup": wn,
            "slow": ws,
            "slow_rate": _rate(ws, wn),
            "p95_ms": p,
        }

    def metric(st: _MetricState) -> dict[str, Any]:
        n_ct, b_ct, n_st, b_st = st.totals
        return {
            "candidate_requests": n_ct,
            "candidate_bad": b_ct,
            "stable_requests": n_st,
            "stable_bad": b_st,
            "candidate_rate": _rate(b_ct, n_ct),
            "stable_rate": _rate(b_st, n_st),
            "log_likelihood_ratio": st.log_lr,
            "likelihood_ratio": math.exp(min(st.log_lr, 700)),
            "rollback_at": 1 / params.alpha_metric,
            "step_llr_psi2": st.step_llr[_K_PROMOTE],
            "promote_at_or_below": params.promote_llr,
            "psi": st.psi_hat,
            "psi_95": [st.psi_lo, st.psi_hi],
        }

    return {
        "baked_seconds": baked_seconds,
        "samples": n_samples,
        "candidate": revision(n_c, e_c, wn_c, ws_c, p95[0]),
        "stable": revision(n_s, e_s, wn_s, ws_s, p95[1]),
        "error_rate_increase_lower_pp": rise_lower * 100 if n_c and n_s else None,
        "limits": {
            "max_error_rate_increase_pp": params.max_error_rate_increase_pp,
            "max_error_rate": params.max_error_rate,
            "max_error_rate_seconds": params.max_error_rate_seconds,
            "max_p95_ms": params.max_p95_ms,
            "max_p95_seconds": params.max_p95_seconds,
            "min_requests": params.min_requests,
            "min_bake_seconds": params.min_bake_seconds,
            "max_bake_seconds": params.max_bake_seconds,
            "alpha": params.alpha,
            "beta": params.beta,
        },
        "errors": metric(states["errors"]),
        "slow": metric(states["slow"]),
    }
