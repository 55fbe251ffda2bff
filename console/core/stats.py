"""The judge's statistics: the per-window likelihood ratio, its mixture, intervals (pure).

For ψ = candidate bad-rate ÷ stable bad-rate, one window adds
ℓ(ψ) = b_c·ln ψ − (b_c + b_s)·ln((ψ·n_c + n_s)/(n_c + n_s)): the log likelihood ratio of
"which revision the bad events came from" given their total, against ψ = 1. The baseline
rate, the traffic split and drift shared by both revisions cancel.

Against the composite null "ψ ≤ ψ0" the judge uses ℓ(ψ0·ψ_k) − ℓ(ψ0), capped at c per
window: under the null E[exp(ℓ(ψ0·ψ_k) − ℓ(ψ0))] ≤ 1 (the binomial family has monotone
likelihood ratios), and min(x, c) ≤ x keeps each factor's expectation ≤ 1, so the product
over windows — and any fixed mixture of such products — is a non-negative supermartingale:
Ville's inequality bounds the chance of ever reaching 1/α by α, however often one looks.
The cap is what keeps one burst of correlated bad events (one client retrying dozens of
times, one bad instance) from counting as dozens of independent pieces of evidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = [
    "PSI_GRID",
    "Stratum",
    "ell",
    "window_llr",
    "mixture_log_lr",
    "psi_interval",
    "wilson",
    "diff_lower",
    "diff_upper",
]

#: The alternatives of the mixture, as multiples of the null ratio ψ0: 2^(k/2), k = 1…10 (√2 … 32).
PSI_GRID: tuple[float, ...] = tuple(2 ** (k / 2) for k in range(1, 11))
_CHI2_1_95_HALF = 1.920729  # χ²₁(0.95) / 2, for the profile-likelihood interval
_LN_PSI_RANGE = math.log(1e4)  # ψ intervals are searched within [1e-4, 1e4]

Stratum = tuple[int, int, int, int]  # (n_c, b_c, n_s, b_s)


def ell(psi: float, n_c: int, b_c: int, n_s: int, b_s: int) -> float:
    """ℓ(ψ) of one window: b_c·ln ψ − (b_c + b_s)·ln((ψ·n_c + n_s)/(n_c + n_s))."""
    n = n_c + n_s
    if n == 0 or b_c + b_s == 0:
        return 0.0
    return b_c * math.log(psi) - (b_c + b_s) * math.log((psi * n_c + n_s) / n)


def window_llr(row: Stratum, null_ratio: float = 1.0, cap: float = math.inf) -> list[float]:
    """min(ℓ(ψ0·ψ_k) − ℓ(ψ0), cap) of one window, for every ψ_k of the grid."""
    n_c, b_c, n_s, b_s = row
    if n_c + n_s == 0 or b_c + b_s == 0:
        return [0.0] * len(PSI_GRID)
    base = ell(null_ratio, n_c, b_c, n_s, b_s)
    return [min(ell(null_ratio * psi, n_c, b_c, n_s, b_s) - base, cap) for psi in PSI_GRID]


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


def _bisect(f: Callable[[float], float], lo: float, hi: float, iterations: int = 36) -> float:
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


def wilson(bad: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion (z-sided)."""
    if n == 0:
        return 0.0, 1.0
    p = bad / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def diff_upper(b_c: int, n_c: int, b_s: int, n_s: int, z: float) -> float:
    """One-sided upper confidence bound of p_c − p_s (Newcombe's hybrid score); 1 without data."""
    if n_c == 0 or n_s == 0:
        return 1.0
    p_c, p_s = b_c / n_c, b_s / n_s
    _, u_c = wilson(b_c, n_c, z)
    l_s, _ = wilson(b_s, n_s, z)
    return (p_c - p_s) + math.sqrt((u_c - p_c) ** 2 + (p_s - l_s) ** 2)


def diff_lower(b_c: int, n_c: int, b_s: int, n_s: int, z: float) -> float:
    """One-sided lower confidence bound of p_c − p_s (Newcombe's hybrid score).

    Holds its level at small counts, unlike the Wald interval; -1 without data.
    """
    if n_c == 0 or n_s == 0:
        return -1.0
    p_c, p_s = b_c / n_c, b_s / n_s
    l_c, _ = wilson(b_c, n_c, z)
    _, u_s = wilson(b_s, n_s, z)
    return (p_c - p_s) - math.sqrt((p_c - l_c) ** 2 + (u_s - p_s) ** 2)
