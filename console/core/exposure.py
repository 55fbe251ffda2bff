"""How much exposure a rollout plans, and what an inconclusive end does (pure).

The judge needs a number of candidate requests, not a number of minutes: at low traffic the
configured 10 % first step can take hours to serve them, and a step that ends without enough
evidence is a question (hold, or a bigger step), not evidence of a regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ExposurePlan", "InconclusiveAction", "inconclusive_action", "plan_exposure"]

#: Planned first steps are whole multiples of this percent ...
STEP_QUANTUM = 5
#: ... and never above this: beyond it the candidate is the main revision before it is judged.
MAX_FIRST_PERCENT = 50
#: A configured step is kept after the planned first one only if it is at least this much bigger.
MIN_STEP_GROWTH = 1.5


@dataclass(frozen=True)
class ExposurePlan:
    """The steps a rollout will take and why (one sentence with the numbers)."""

    steps: tuple[int, ...]
    changed: bool
    reason: str


def plan_exposure(
    steps: Sequence[int], request_rate: float | None, max_bake_seconds: float, min_requests: int
) -> ExposurePlan:
    """Steps chosen so that the first judged step can serve ``min_requests`` within its max bake.

    ``request_rate`` is the service's observed rate (requests per second, both revisions) before
    the rollout; None or 0 when unknown — then the configured steps are kept. What matters is the
    absolute number of requests the candidate serves before it is judged, so at low traffic the
    first step grows (in whole 5 % steps, at most 50 %) and configured steps that would add less
    than half again are dropped.
    """
    steps = tuple(steps)
    judged = steps[:-1]
    if not judged:
        return ExposurePlan(steps, False, "one step to 100 %: nothing to plan")
    if not request_rate or request_rate <= 0:
        return ExposurePlan(steps, False, "no request rate observed before the rollout: configured steps kept")
    per_percent = request_rate * max_bake_seconds / 100  # candidate requests per percent per max bake
    first = judged[0]
    served = per_percent * first
    rate_text = f"at {request_rate:.2g} req/s"
    if served >= min_requests:
        return ExposurePlan(
            steps, False,
            f"{rate_text} the first step ({first} %) serves ~{served:,.0f} requests in its "
            f"{max_bake_seconds:g} s max bake (need {min_requests:,}): configured steps kept",
        )
    needed = min_requests / per_percent
    planned = min(MAX_FIRST_PERCENT, math.ceil(needed / STEP_QUANTUM) * STEP_QUANTUM)
    planned = max(planned, first)
    later = tuple(s for s in judged[1:] if s >= MIN_STEP_GROWTH * planned)
    new_steps = (planned, *later, 100)
    reason = (
        f"{rate_text} {first} % serves ~{served:,.0f} requests in the {max_bake_seconds:g} s max bake, "
        f"not the {min_requests:,} the judge needs: first step {planned} % (~{per_percent * planned:,.0f} "
        f"requests), steps {' → '.join(map(str, new_steps))}"
    )
    if needed > MAX_FIRST_PERCENT:
        reason += (
            f"; even {MAX_FIRST_PERCENT} % falls short, so the step may end without enough evidence "
            "and hold for the operator"
        )
    return ExposurePlan(new_steps, True, reason)


class InconclusiveAction(StrEnum):
    EXTEND = "extend"  # bake the same step once more, max bake doubled
    HOLD = "hold"  # keep the split, end the run (headless exit 5) for the operator or a rerun
    ROLLBACK = "rollback"  # the operator asked for a fail-safe rollback


def inconclusive_action(on_inconclusive: str, extended: bool) -> InconclusiveAction:
    """What a step that ended without a decision does, by ``rollout.on_inconclusive``.

    "extend" (default): extend once, then hold. "pause": hold at once. "rollback": extend once,
    then roll back. Lack of traffic is never read as a regression unless the operator says so.
    """
    if on_inconclusive == "pause":
        return InconclusiveAction.HOLD
    if not extended:
        return InconclusiveAction.EXTEND
    return InconclusiveAction.ROLLBACK if on_inconclusive == "rollback" else InconclusiveAction.HOLD
