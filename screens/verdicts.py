"""From the engine's events and from the rollout state on the service to what the judge panel shows.

When this console drives, the engine's "bake"/"verdict" events carry the judge's reasons and numbers.
When somebody else drives (CI, another operator), the state annotation carries the phase, the steps
so far and the evidence; the screen re-runs the (pure) judge on the windows it already read for the
sparklines, so a CI-driven rollout is judged live on the screen too ("shadow" verdict).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from console.config import Config, Target
from console.judge import Evidence, JudgeParams, Metric, Verdict, judge_step, mixture_log_lr
from console.samples import first_window_start, judge_params, last_complete_end, step_samples
from console.state import RolloutState
from console.units import mmss
from widgets.history import StepView
from widgets.verdict import MetricEvidenceView, VerdictView

LABELS = {"errors": "5xx", "slow": "slow"}


def evidence_from_metrics(metrics: Mapping[str, Any]) -> tuple[MetricEvidenceView, ...]:
    out = []
    for key, label in LABELS.items():
        m = metrics.get(key)
        if not isinstance(m, Mapping):
            continue
        psi = m.get("psi_95") or (None, None)
        out.append(
            MetricEvidenceView(
                label=label,
                likelihood_ratio=m.get("likelihood_ratio"),
                boundary=m.get("rollback_at"),
                candidate_rate=m.get("candidate_rate"),
                stable_rate=m.get("stable_rate"),
                psi_95=(psi[0], psi[1]) if len(psi) == 2 else (None, None),
            )
        )
    return tuple(out)


def view_from_event(data: Mapping[str, Any], source: str) -> VerdictView:
    decision = data.get("decision")
    reasons = tuple(data.get("reasons") or ())
    headline = ""
    if "baked" in data:
        count = data.get("samples", 0)
        counted = (f"{count} bucket{'' if count == 1 else 's'} of 10 s from the request log" if data.get("source") == "logs"
                   else f"{count} complete window{'' if count == 1 else 's'}")
        headline = f"baked {mmss(data['baked'])} (min {mmss(data.get('min_bake'))}, max {mmss(data.get('max_bake'))}), {counted}"
    return VerdictView(
        decision=decision,
        headline=headline,
        reasons=reasons,
        evidence=evidence_from_metrics(data.get("metrics") or {}),
        source=source,
    )


def view_from_verdict(verdict: Verdict, headline: str, source: str) -> VerdictView:
    return VerdictView(
        decision=verdict.decision, headline=headline, reasons=verdict.reasons,
        evidence=evidence_from_metrics(verdict.metrics), source=source,
    )


def carried_evidence(state: RolloutState, config: Config) -> tuple[MetricEvidenceView, ...]:
    if not state.evidence:
        return ()
    try:
        evidence = Evidence.from_dict(dict(state.evidence))
    except (ValueError, TypeError, KeyError):
        return ()
    params = JudgeParams(alpha=config.analysis.alpha)
    out = []
    for key, label in LABELS.items():
        metric = getattr(evidence, key)
        boundary = params.rollback_at(Metric(key))
        lr = math.exp(min(mixture_log_lr(metric.llr), 700))
        n_c = sum(s[0] for s in metric.strata)
        b_c = sum(s[1] for s in metric.strata)
        n_s = sum(s[2] for s in metric.strata)
        b_s = sum(s[3] for s in metric.strata)
        out.append(MetricEvidenceView(label, lr, boundary, b_c / n_c if n_c else None, b_s / n_s if n_s else None))
    return tuple(out)


def shadow_verdict(state: RolloutState, config: Config, target: Target, windows: dict, now: float) -> Verdict | None:
    """The judge's verdict on the current step from windows already read (pure; no I/O)."""
    if state.phase != "baking" or not windows:
        return None
    period = config.analysis.window_seconds
    try:
        carried = Evidence.from_dict(dict(state.evidence)) if state.evidence else Evidence()
        params = judge_params(target.rollout, config.analysis, state.extended)
        start = first_window_start(state.step_started, period)
        end = last_complete_end(now, period, config.analysis.metric_delay_seconds)
        samples = step_samples(windows, target.service, state.candidate, state.stable, start, end, period, state.latency_threshold_ms) if end > start else []
        return judge_step(params, carried, samples, now - state.step_started, step_started=state.step_started)
    except (ValueError, TypeError, KeyError, ZeroDivisionError):
        return None


def view_from_state(state: RolloutState | None, config: Config, target: Target, windows: dict, now: float, driver_note: str) -> VerdictView:
    if state is None:
        return VerdictView(None, "no rollout on this service", (), (), "")
    if state.phase == "rolled_back":
        reasons = tuple(r.strip() for r in state.reason.split("; ") if r.strip()) or ("rolled back",)
        last = state.history[-1] if state.history else None
        if last and last.verdict == "fail" and last.reasons:
            reasons = last.reasons
        # the evidence stored on the state is what the earlier steps carried; the reasons hold the failing numbers
        return VerdictView("fail", f"rolled back {state.candidate} at {state.percent} %", reasons, (), driver_note)
    if state.phase == "promoted":
        last = state.history[-1] if state.history else None
        return VerdictView("pass", f"promoted {state.candidate}", tuple(last.reasons) if last else (state.reason,), carried_evidence(state, config), driver_note)
    if state.phase == "smoke":
        return VerdictView("continue", f"smoke checks on {state.candidate}", (), (), driver_note)
    if state.phase == "paused":
        return VerdictView(None, f"PAUSED at {state.percent} %: the judge waits, the bake clock is stopped",
                           ("space resumes this same rollout; r rolls it back",), carried_evidence(state, config),
                           driver_note)
    verdict = shadow_verdict(state, config, target, windows, now)
    if verdict is not None:
        view = view_from_verdict(verdict, f"step {state.step + 1}/{len(state.steps)} at {state.percent} %, judged here from the same windows", driver_note)
        return view
    return VerdictView("continue", f"at {state.percent} %, {state.phase}", (state.reason,) if state.reason else (), carried_evidence(state, config), driver_note)


def steps_of(state: RolloutState | None, now: float) -> list[StepView]:
    if state is None:
        return []
    steps = [StepView(h.percent, h.started, h.ended, h.verdict, tuple(h.reasons)) for h in state.history]
    if state.active and state.phase != "smoke" and state.percent and not (state.history and state.history[-1].started == state.step_started):
        steps.append(StepView(state.percent, state.step_started, None, None, ()))
    return steps
