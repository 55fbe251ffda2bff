"""Log-stream mode against Monitoring mode, on the same simulated streams.

Each run simulates one rollout (10 → 50 → 100, the shipped config's judge and pace) second by
second: per revision, requests ~ Poisson, 5xx and slow requests ~ Binomial. The same stream is
then judged twice, as the engine would:

- logs: 10 s buckets from the step's start, each available once the watermark passes it (15 s
  after its end, as measured against the emulator), looked at every 5 s, minimum bake
  `rollout.logs_bake_seconds`;
- monitoring: 60 s aligned windows wholly inside the step, available 180 s after their end (the
  metric delay), looked at every 15 s, minimum bake `rollout.bake_seconds`.

Both apply the engine's policy: the exposure plan for the observed rate (`plan_exposure`), carried
evidence, an inconclusive step extended once and then what `rollout.on_inconclusive` says (the
shipped "extend": hold, exit 5 — a rollback only when configured; a fail-safe rollback would count as
a rollback). In log mode the buckets carry `client_excess` = 0 on both sides, as the request-log
source reports independent 5xx from distinct clients, so the judge caps them as it caps the log's.
Printed per case: runs rolled back (with a 95 % Wilson interval) and held, median time to rollback
from the candidate's first request, median time to 100 %, and Wald's SPRT floor for the regression
(the least time any test needs).

Run: python -m bench.sources [runs per case]   (default 200)
"""

from __future__ import annotations

import math
import random
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from console.config import load_config
from console.judge import Counts, Evidence, InconclusiveAction, Sample, inconclusive_action, judge_step, plan_exposure
from console.samples import judge_params

CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.toml")
STEPS = CONFIG.rollout.steps
HORIZON = 4 * 3600  # seconds simulated per run, at most


@dataclass(frozen=True)
class Case:
    name: str
    rate: float  # requests/s, both revisions together
    stable_5xx: float
    candidate_5xx: float
    stable_slow: float = 0.05
    candidate_slow: float = 0.05

    @property
    def regression(self) -> bool:
        return self.candidate_5xx > self.stable_5xx or self.candidate_slow > self.stable_slow


@dataclass(frozen=True)
class Mode:
    name: str
    bucket: int
    available_after: float  # seconds after a bucket's end
    poll: float
    min_bake: float
    aligned: bool  # Monitoring: windows on the minute grid, wholly inside the step
    keyed: bool = False  # the request log: 5xx bounded per client over the step (client_excess)


LOGS = Mode("logs", 10, 15.0, 5.0, CONFIG.rollout.logs_bake_seconds, aligned=False, keyed=True)
MONITORING = Mode("monitoring", 60, CONFIG.analysis.metric_delay_seconds, 15.0, CONFIG.rollout.bake_seconds, aligned=True)

CASES = (
    Case("no change, 20 req/s", 20, 0.005, 0.005),
    Case("no change, 200 req/s", 200, 0.005, 0.005),
    Case("no change, 2 req/s", 2, 0.005, 0.005),
    Case("5xx 0.5 → 10 %, 20 req/s", 20, 0.005, 0.10),
    Case("5xx 0.5 → 2 %, 200 req/s", 200, 0.005, 0.02),
    Case("slow 5 → 30 %, 20 req/s", 20, 0.005, 0.005, 0.05, 0.30),
)


def _binomial(rng: random.Random, n: int, p: float) -> int:
    if n < 30:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean = n * p
    return max(0, min(n, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam < 30:
        limit, k, prod = math.exp(-lam), 0, rng.random()
        while prod > limit:
            k += 1
            prod *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


class Stream:
    """Per-second counts of one run, drawn lazily for the split in force each second."""

    def __init__(self, case: Case, seed: int):
        self.case = case
        self.rng = random.Random(seed)
        self.seconds: list[tuple[Counts, Counts]] = []

    def second(self, t: int, share: float) -> tuple[Counts, Counts]:
        while len(self.seconds) <= t:
            c = self.case
            n = _poisson(self.rng, c.rate)
            n_c = _binomial(self.rng, n, share)
            n_s = n - n_c
            cand = Counts(n_c, _binomial(self.rng, n_c, c.candidate_5xx), _binomial(self.rng, n_c, c.candidate_slow))
            stab = Counts(n_s, _binomial(self.rng, n_s, c.stable_5xx), _binomial(self.rng, n_s, c.stable_slow))
            self.seconds.append((cand, stab))
        return self.seconds[t]


def _sum(counts: list[Counts], keyed: bool) -> Counts:
    return Counts(sum(c.requests for c in counts), sum(c.errors for c in counts), sum(c.slow for c in counts),
                  client_excess=0 if keyed else None)


def run(case: Case, mode: Mode, seed: int) -> tuple[str, float]:
    """('promoted' | 'rolled_back' | 'held', seconds from the candidate's first request)."""
    stream = Stream(case, seed)
    carried = Evidence()
    now = 0.0
    steps = plan_exposure(STEPS, case.rate, CONFIG.rollout.max_bake_seconds, CONFIG.analysis.min_requests).steps
    for percent in steps[:-1]:
        share = percent / 100
        started = now
        extended = False
        first = math.ceil(started / mode.bucket) * mode.bucket if mode.aligned else started
        while now < HORIZON:
            now += mode.poll
            samples = []
            end = first + mode.bucket
            while end + mode.available_after <= now:
                seconds = [stream.second(int(t), share) for t in range(int(end - mode.bucket), int(end))]
                samples.append(Sample(end - mode.bucket, end, _sum([s[0] for s in seconds], mode.keyed),
                                      _sum([s[1] for s in seconds], mode.keyed)))
                end += mode.bucket
            params = replace(judge_params(CONFIG.rollout, CONFIG.analysis, extended), min_bake_seconds=mode.min_bake)
            verdict = judge_step(params, carried, samples, now - started, step_started=started)
            if verdict.decision == "fail":
                return "rolled_back", now
            if verdict.decision == "pass":
                carried = verdict.evidence
                break
            if verdict.decision == "inconclusive":
                action = inconclusive_action(CONFIG.rollout.on_inconclusive, extended)
                if action is InconclusiveAction.ROLLBACK:
                    return "rolled_back", now  # a fail-safe rollback, as configured
                if action is InconclusiveAction.HOLD:
                    return "held", now
                extended = True
    return "promoted", now


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def wald_floor(case: Case, alpha: float) -> float | None:
    """Seconds of candidate traffic at the first step an SPRT needs, on average, to reject 'no change'."""
    p0, p1 = (case.stable_5xx, case.candidate_5xx) if case.candidate_5xx > case.stable_5xx else (case.stable_slow, case.candidate_slow)
    if p1 <= p0:
        return None
    kl = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    return math.log(1 / alpha) / kl / (case.rate * STEPS[0] / 100)


def main(runs: int = 200) -> None:
    alpha_metric = CONFIG.analysis.alpha / 2
    print(f"{runs} runs per case and mode; steps {STEPS}; α {CONFIG.analysis.alpha:g}; "
          f"logs: {LOGS.bucket} s buckets, {LOGS.available_after:g} s lag, min bake {LOGS.min_bake:g} s; "
          f"monitoring: {MONITORING.bucket} s windows, {MONITORING.available_after:g} s delay, min bake {MONITORING.min_bake:g} s")
    print(f"{'case':<28} {'mode':<11} {'rolled back':>22} {'held':>7} {'median to rollback':>19} {'median to 100 %':>16} {'Wald floor':>11}")
    for case in CASES:
        floor = wald_floor(case, alpha_metric)
        for mode in (LOGS, MONITORING):
            results = [run(case, mode, seed) for seed in range(runs)]
            back = [t for outcome, t in results if outcome == "rolled_back"]
            promoted = [t for outcome, t in results if outcome == "promoted"]
            held = sum(1 for outcome, _ in results if outcome == "held")
            lo, hi = wilson(len(back), runs)
            rolled = f"{len(back) / runs * 100:5.1f} % [{lo * 100:4.1f}–{hi * 100:4.1f}]"
            to_back = f"{statistics.median(back):7.0f} s" if back else "—"
            to_full = f"{statistics.median(promoted):7.0f} s" if promoted else "—"
            wald = f"{floor:6.0f} s" if floor is not None else "—"
            print(f"{case.name:<28} {mode.name:<11} {rolled:>22} {held / runs * 100:5.1f} % {to_back:>19} {to_full:>16} {wald:>11}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
