"""From Monitoring windows to the judge's per-sample counts (pure).

Only windows that lie wholly inside the current step and that the metric delay has filled are
used, so a verdict never mixes in the previous step's traffic or a half-ingested minute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from console.config import Analysis, Rollout
from console.distribution import Histogram
from console.gcp.monitoring import RevisionWindows, WindowStats
from console.judge import Counts, JudgeParams, Sample


def first_window_start(step_started: float, period: int) -> float:
    """The start of the first aligned window that holds only this step's traffic."""
    return math.ceil(step_started / period) * period


def last_complete_end(now: float, period: int, delay: float) -> float:
    return math.floor((now - delay) / period) * period


def _counts(window: WindowStats | None, slow_edge: float | None, tail_factor: float) -> Counts:
    if window is None:
        return Counts(0, 0, 0, None)
    slow = tail = 0
    p95 = None
    if window.latency is not None and window.latency.count:
        p95 = window.latency.percentile(0.95)
        if slow_edge is not None:
            slow = window.latency.count_at_or_above(window.latency.snap(slow_edge))
            tail = window.latency.count_at_or_above(window.latency.snap(slow_edge * tail_factor))
    requests = window.requests
    slow = min(slow, requests)
    return Counts(requests, min(window.errors, requests), slow, p95, tail=min(tail, slow))


def step_samples(
    windows: RevisionWindows,
    service: str,
    candidate: str,
    stable: str,
    start: float,
    end: float,
    period: int,
    slow_edge: float | None,
    tail_factor: float = 3.0,
) -> list[Sample]:
    """One Sample per aligned window in (start, end], oldest first; "tail" is slower than
    ``tail_factor`` × ``slow_edge`` (the judge's p99-regression metric)."""
    cand = windows.get((service, candidate), {})
    stab = windows.get((service, stable), {})
    samples = []
    window_end = start + period
    while window_end <= end:
        c, s = cand.get(window_end), stab.get(window_end)
        if c is not None or s is not None:
            samples.append(Sample(
                window_end - period, window_end, _counts(c, slow_edge, tail_factor), _counts(s, slow_edge, tail_factor)
            ))
        window_end += period
    return samples


#: windows with container starts are left out only while they are at most this share of the step's
#: windows past the warm-up: beyond it, starting containers is the candidate's behaviour, judged as it is
COLD_WINDOWS_AT_MOST = 2 / 3


def leave_out_cold_windows(samples: list[Sample], candidate_starts: Mapping[float, int], judged_from: float) -> list[Sample]:
    """Monitoring cannot tell instances apart, so a window past the warm-up (starting at or after
    ``judged_from``) in which the candidate started containers — autoscaling in the middle of a step —
    has its candidate latency left out of the relative tests: ``warm_requests`` 0, no slow or tail
    requests; its 5xx and p95 (the hard limit) stay. Only while such windows are at most
    ``COLD_WINDOWS_AT_MOST`` of those past the warm-up: a candidate that starts containers in nearly
    every window (scale-to-zero churn) would otherwise never have its latency compared.
    ``candidate_starts``: window end → container starts."""
    judged = [s for s in samples if s.start >= judged_from]
    cold = {s.end for s in judged if candidate_starts.get(s.end, 0) > 0}
    if not cold or len(cold) > COLD_WINDOWS_AT_MOST * len(judged):
        return samples
    return [replace(s, candidate=replace(s.candidate, slow=0, tail=0, warm_requests=0)) if s.end in cold else s
            for s in samples]


def slow_threshold(stable_latency: Histogram | None, fallback_ms: float) -> float:
    """Stable's p95 snapped to a bucket edge (the latency that counts as 'slow'), else the SLO."""
    if stable_latency is None or stable_latency.count < 100:
        return fallback_ms
    p95 = stable_latency.percentile(0.95) or fallback_ms
    return stable_latency.snap(p95)


def judge_params(rollout: Rollout, analysis: Analysis, extended: bool) -> JudgeParams:
    max_bake = rollout.max_bake_seconds * (2 if extended else 1)
    return JudgeParams(
        alpha=analysis.alpha,
        beta=analysis.beta,
        max_error_rate_increase_pp=analysis.max_error_rate_increase_pp,
        max_error_rate=analysis.max_error_rate_percent / 100,
        max_error_rate_seconds=analysis.max_error_rate_seconds,
        max_p95_ms=analysis.max_p95_ms,
        min_requests=analysis.min_requests,
        min_bake_seconds=rollout.bake_seconds,
        max_bake_seconds=max_bake,
        warmup_seconds=analysis.warmup_seconds,
        instance_warmup_seconds=analysis.instance_warmup_seconds,
        tolerated_ratio=analysis.tolerated_ratio,
        window_evidence_cap=analysis.window_evidence_cap,
        latency_window_evidence_cap=analysis.latency_window_evidence_cap,
        keyed_evidence_cap=analysis.request_log_evidence_cap,
        tail_factor=analysis.tail_factor,
    )
