"""Benchmark of the judge on simulated request streams with known truth.

    python bench/judge.py [--seeds N] [--workers 2]

Needs numpy (the `bench` extra); prints one table. Not a test: nothing is asserted.

Setup (DESIGN.md, "The judge"): a rollout of two steps, 10 % then 50 % of the
traffic to the candidate, 10 minutes each at most, 60 s samples, min bake 5 min.
Per sample and revision: requests (Poisson total, binomial split), 5xx (binomial)
and slow requests (binomial; latencies are lognormal, median 200 ms, σ 0.5, and
"slow" means over stable's p95, so stable's slow fraction is 5 %; the candidate's
fraction for a latency factor f is 1 − Φ(1.645 − ln f / σ)). The p95 of a sample is
the true p95 times the sampling noise of an empirical quantile.

Every judge is fed the same random streams: for each seed and minute the draws are
made once for both traffic splits (and, for the candidate's latency, both warm and
cold), and each judge reads the split (and warm-up) it is in at that minute.

Judges:
* shipped — ``console.judge.judge_step`` called after every sample, exactly as the
  engine will: evidence carried between steps; a step ends on pass (early
  promotion) or at max bake (inconclusive: the bench then moves on, like an operator
  who extends by the next step); a fail rolls back.
* fixed — a fixed-threshold rule of the kind other rollout tools use: roll back when
  the candidate's 5xx in the last 60 s is > 5 % or > stable + 2 points, with ≥ 20
  candidate requests in that sample; steps last 10 minutes. It has no latency rule.

Columns: false-rollback rate with a Wilson 95 % interval (no-change cases); miss
rate (regression cases: not rolled back by the end); median / p90 detection delay in
seconds and candidate requests, over the rollouts that were rolled back; time to
100 % when nothing changed, with the share the judge decided itself (the rest ended
inconclusive at 20 min: the operator's call); Wald's SPRT expected sample size, in
candidate requests, for the same rates (α 2.5 %, β 10 %), as the floor.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from statistics import NormalDist

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from console.judge import Counts, Evidence, JudgeParams, Sample, judge_step  # noqa: E402

MINUTES = 20
STEP_MINUTES = 10
SPLITS = (0.10, 0.50)
STABLE_5XX = 0.005
MEDIAN_MS, SIGMA = 200.0, 0.5
Z95 = NormalDist().inv_cdf(0.95)
PARAMS = JudgeParams(max_bake_seconds=STEP_MINUTES * 60, min_bake_seconds=300)
ALPHA_METRIC, BETA = PARAMS.alpha / 2, PARAMS.beta


def slow_fraction(factor: float) -> float:
    """P(latency × factor > stable's p95) for lognormal latencies."""
    return 1 - NormalDist().cdf(Z95 - math.log(factor) / SIGMA)


@dataclass(frozen=True)
class Case:
    name: str
    rate: float  # total requests per second at the start
    cand_5xx: float
    latency: float  # candidate latency factor
    kind: str = "stationary"  # | incident | ramp | coldstart

    @property
    def regression(self) -> bool:
        return self.cand_5xx != STABLE_5XX or self.latency != 1.0


def build_cases(seeds_nochange: int, seeds_regression: int) -> list[tuple[Case, int]]:
    cases: list[tuple[Case, int]] = []
    for rate in (2, 20, 200):
        for kind in ("stationary", "incident", "ramp", "coldstart"):
            label = {"stationary": "no change", "incident": "no change, shared incident",
                     "ramp": "no change, traffic ramp ×5",
                     "coldstart": "no change, cold starts ×3"}[kind]
            cases.append((Case(f"{rate}/s {label}", rate, STABLE_5XX, 1.0, kind), seeds_nochange))
        for c5, lat in ((0.02, 1.0), (0.10, 1.0), (0.005, 1.5), (0.02, 1.5), (0.10, 1.5)):
            name = f"{rate}/s 5xx 0.5→{c5 * 100:g} %" if c5 != STABLE_5XX else f"{rate}/s"
            name += f", latency ×{lat:g}" if lat != 1.0 else ""
            cases.append((Case(name, rate, c5, lat), seeds_regression))
    return cases


# ----------------------------------------------------------------------- streams


def draw_streams(case: Case, case_id: int, seeds: range) -> dict[str, np.ndarray]:
    """Arrays (seed, minute, split) of per-sample counts and p95s."""
    rng = np.random.default_rng([case_id, seeds.start, len(seeds)])
    s, t = len(seeds), MINUTES
    minutes = np.arange(t)
    rate = np.full(t, float(case.rate))
    if case.kind == "ramp":
        rate = case.rate * (1 + 4 * minutes / (t - 1))
    p_s = np.full(t, STABLE_5XX)
    p_c = np.full(t, case.cand_5xx)
    if case.kind == "incident":  # both revisions at 5 % 5xx, minutes 3–4
        p_s[3:5] = 0.05
        p_c[3:5] = 0.05
    total = rng.poisson(rate * 60, size=(s, t))
    split = np.array(SPLITS)
    n_c = rng.binomial(total[:, :, None], split[None, None, :])
    n_s = total[:, :, None] - n_c
    e_c = rng.binomial(n_c, p_c[None, :, None])
    e_s = rng.binomial(n_s, p_s[None, :, None])
    q_warm, q_cold = slow_fraction(case.latency), slow_fraction(case.latency * 3)
    slow_c = rng.binomial(n_c, q_warm)
    slow_c_cold = rng.binomial(n_c, q_cold)
    slow_s = rng.binomial(n_s, 0.05)
    # empirical p95 of n lognormal latencies: log-quantile ~ N(true, σ²·p(1−p)/(n·φ(z)²))
    phi = math.exp(-Z95 * Z95 / 2) / math.sqrt(2 * math.pi)
    true95 = MEDIAN_MS * math.exp(Z95 * SIGMA)

    def p95(n: np.ndarray, factor: float, noise: np.ndarray) -> np.ndarray:
        sd = SIGMA * math.sqrt(0.05 * 0.95) / phi / np.sqrt(np.maximum(n, 1))
        return np.where(n > 0, true95 * factor * np.exp(sd * noise), np.nan)

    noise_c = rng.standard_normal(n_c.shape)
    noise_s = rng.standard_normal(n_s.shape)
    return {
        "n_c": n_c, "n_s": n_s, "e_c": e_c, "e_s": e_s,
        "slow_c": slow_c, "slow_c_cold": slow_c_cold, "slow_s": slow_s,
        "p95_c": p95(n_c, case.latency, noise_c),
        "p95_c_cold": p95(n_c, case.latency * 3, noise_c),
        "p95_s": p95(n_s, 1.0, noise_s),
    }


def sample_at(st: dict[str, np.ndarray], i: int, t: int, j: int, cold: bool) -> Sample:
    def f(x: float) -> float | None:
        return None if math.isnan(x) else float(x)

    n_c, n_s = int(st["n_c"][i, t, j]), int(st["n_s"][i, t, j])
    return Sample(
        start=60.0 * t,
        end=60.0 * t + 60,
        candidate=Counts(
            n_c, int(st["e_c"][i, t, j]),
            int(st["slow_c_cold" if cold else "slow_c"][i, t, j]),
            f(st["p95_c_cold" if cold else "p95_c"][i, t, j]),
        ),
        stable=Counts(n_s, int(st["e_s"][i, t, j]), int(st["slow_s"][i, t, j]),
                      f(st["p95_s"][i, t, j])),
    )


# ------------------------------------------------------------------------ judges


@dataclass
class Outcome:
    rolled_back: bool
    at_seconds: float | None  # rollback or promotion time
    cand_requests: int  # candidate requests until the rollback
    decided: bool  # promotion by the judge's own pass at the last step


def run_shipped(case: Case, st: dict[str, np.ndarray], i: int) -> Outcome:
    carried, step, step_start, samples, served = Evidence(), 0, 0, [], 0
    for t in range(MINUTES):
        cold = case.kind == "coldstart" and t * 60 - step_start < 120
        s = sample_at(st, i, t, step, cold)
        served += s.candidate.requests
        samples.append(s)
        v = judge_step(PARAMS, carried, samples, (t + 1) * 60 - step_start,
                       step_started=float(step_start))
        if v.decision == "fail":
            return Outcome(True, (t + 1) * 60.0, served, False)
        if v.decision in ("pass", "inconclusive"):
            carried, step, step_start, samples = v.evidence, step + 1, (t + 1) * 60, []
            if step == len(SPLITS):
                return Outcome(False, (t + 1) * 60.0, served, v.decision == "pass")
    return Outcome(False, MINUTES * 60.0, served, False)


def run_fixed(case: Case, st: dict[str, np.ndarray], i: int) -> Outcome:
    served = 0
    for t in range(MINUTES):
        j = t // STEP_MINUTES
        n_c, n_s = int(st["n_c"][i, t, j]), int(st["n_s"][i, t, j])
        e_c, e_s = int(st["e_c"][i, t, j]), int(st["e_s"][i, t, j])
        served += n_c
        if n_c >= 20:
            r_c = e_c / n_c
            r_s = e_s / n_s if n_s else 0.0
            if r_c > 0.05 or r_c > r_s + 0.02:
                return Outcome(True, (t + 1) * 60.0, served, False)
    return Outcome(False, MINUTES * 60.0, served, False)


JUDGES = {"shipped": run_shipped, "fixed": run_fixed}


def work(task: tuple[int, Case, int, int]) -> tuple[int, dict[str, list[Outcome]]]:
    case_id, case, lo, hi = task
    st = draw_streams(case, case_id, range(lo, hi))
    return case_id, {
        name: [fn(case, st, i) for i in range(hi - lo)] for name, fn in JUDGES.items()
    }


# ------------------------------------------------------------------------ report


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def kl(p: float, q: float) -> float:
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def sprt_floor(case: Case) -> float:
    """Wald's approximate expected sample size (candidate requests), known p0."""
    a, b = ALPHA_METRIC, BETA
    if not case.regression:  # H0 true: accept against ψ = 2 on 5xx (the slower metric)
        p0 = STABLE_5XX
        num = (1 - a) * math.log(b / (1 - a)) + a * math.log((1 - b) / a)
        return num / -kl(p0, 2 * p0)
    num = (1 - b) * math.log((1 - b) / a) + b * math.log(b / (1 - a))
    floors = []
    if case.cand_5xx != STABLE_5XX:
        floors.append(num / kl(case.cand_5xx, STABLE_5XX))
    if case.latency != 1.0:
        floors.append(num / kl(slow_fraction(case.latency), 0.05))
    return min(floors)


def fmt_q(values: list[float], q: float, unit: str = "") -> str:
    if not values:
        return "—"
    return f"{np.quantile(values, q):,.0f}{unit}"


def table(cases: list[tuple[Case, int]], results: dict[int, dict[str, list[Outcome]]]) -> str:
    head = ("case", "judge", "false rollback % (95 % CI)", "miss %",
            "delay s med/p90", "delay req med/p90", "to 100 % med (judge decided)",
            "SPRT floor req")
    rows = [head]
    for cid, (case, _) in enumerate(cases):
        for judge in JUDGES:
            out = results[cid][judge]
            n = len(out)
            rb = [o for o in out if o.rolled_back]
            fr = miss = delay_s = delay_r = promo = "—"
            if case.regression:
                miss = f"{100 * (n - len(rb)) / n:.1f}"
                delay_s = f"{fmt_q([o.at_seconds for o in rb], .5)}/{fmt_q([o.at_seconds for o in rb], .9)}"
                delay_r = f"{fmt_q([o.cand_requests for o in rb], .5)}/{fmt_q([o.cand_requests for o in rb], .9)}"
            else:
                lo, hi = wilson(len(rb), n)
                fr = f"{100 * len(rb) / n:.1f} ({100 * lo:.1f}–{100 * hi:.1f})"
                kept = [o for o in out if not o.rolled_back]
                if kept:
                    med = np.median([o.at_seconds for o in kept]) / 60
                    dec = 100 * sum(o.decided for o in kept) / len(kept)
                    promo = f"{med:.0f} min ({dec:.0f} %)"
            rows.append((case.name, judge, fr, miss, delay_s, delay_r, promo,
                         f"{sprt_floor(case):,.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=2000,
                    help="seeds per no-change case (regression cases get half); default 2000")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cases = build_cases(args.seeds, max(1, args.seeds // 2))
    chunk = 100
    tasks = [(cid, case, lo, min(lo + chunk, n))
             for cid, (case, n) in enumerate(cases) for lo in range(0, n, chunk)]
    tasks.sort(key=lambda t: -t[1].rate)  # the slow ones first
    t0 = time.perf_counter()
    results: dict[int, dict[str, list[Outcome]]] = {
        cid: {j: [] for j in JUDGES} for cid in range(len(cases))}
    with Pool(args.workers) as pool:
        for cid, out in pool.imap_unordered(work, tasks):
            for j, o in out.items():
                results[cid][j].extend(o)
    elapsed = time.perf_counter() - t0
    print(table(cases, results))
    print(f"\n{args.seeds} seeds per no-change case, {max(1, args.seeds // 2)} per regression case; "
          f"{elapsed:.0f} s with {args.workers} workers. Delays over the rollouts rolled back; "
          "time to 100 % over those not rolled back.")


if __name__ == "__main__":
    main()
