"""The rollout engine: smoke-check, step traffic, judge each step, promote or roll back.

Headless (`--auto-promote`) and the terminal UI drive this same code. Every write is fenced
(`console.rollout.fence`): a compare-and-swap against what this engine last wrote and read —
traffic, tags, rollout state, its lease and the lease's generation. Anything it did not write
stops it without a write (exit 4; exit 1 when an operator rolled back). A write is done when
Cloud Run serves it, and a step is judged only on windows from then. Each write carries the
rollout state in the service's annotations and is written to the audit log; the caller is told
of everything through `Event`s.

Built in layers (console/rollout/): `writer.FencedWriter` (reads, fenced writes, the lease) →
`driver.RolloutDriver` (the rollout; pure choices in `choice`) → `actions.OperatorActions` (one
action at a time) → `Engine`. Typed outcomes in `outcomes`, events in `events`.
"""

from __future__ import annotations

from console.rollout.actions import ROLLBACK_ATTEMPTS, OperatorActions
from console.rollout.driver import READ_OUTAGE_BOUND_SECONDS, READ_RETRY_SECONDS
from console.rollout.events import Event, Interrupted, Outcome, StepReport, iso_time
from console.rollout.outcomes import EventKind, ExitCode, OutcomeKind, RollbackWhy
from console.rollout.writer import CONFLICT_RETRIES, SERVE_BOUND_SECONDS

__all__ = [
    "CONFLICT_RETRIES",
    "READ_OUTAGE_BOUND_SECONDS",
    "READ_RETRY_SECONDS",
    "ROLLBACK_ATTEMPTS",
    "SERVE_BOUND_SECONDS",
    "Engine",
    "Event",
    "EventKind",
    "ExitCode",
    "Interrupted",
    "Outcome",
    "OutcomeKind",
    "RollbackWhy",
    "StepReport",
    "iso_time",
]


class Engine(OperatorActions):
    """Drives one service in one environment."""
