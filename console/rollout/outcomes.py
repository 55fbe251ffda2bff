"""The engine's vocabulary as types: exit codes, event kinds, how a rollout ended.

Exit codes are an API for CI (documented in README "Exit codes"); match on these, never on
bare numbers or strings.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Literal

# What an interrupt (SIGINT/SIGTERM, the TUI's pause) does to traffic already shifted.
OnInterrupt = Literal["rollback", "hold"]


class ExitCode(IntEnum):
    OK = 0  # promoted, nothing to do, or the action asked for (a rollback included) done
    ROLLED_BACK = 1  # the rollout failed: smoke, analysis, crash loop, or an operator rolled it back
    USAGE = 2  # usage or config error
    INFRASTRUCTURE = 3  # API trouble past its retries; traffic left safe and said how
    SERVICE_CHANGED = 4  # stopped without writing: someone else changed the service (traffic, tags, state, lease)
    HELD = 5  # not enough evidence either way by the maximum bake: the split and the rollout state are kept
    INTERRUPTED = 130  # SIGINT/SIGTERM; traffic left safe and said how


class EventKind(StrEnum):
    START = "start"
    RESUME = "resume"
    SMOKE = "smoke"
    WRITTEN = "written"  # a traffic write accepted, not yet served
    TRAFFIC = "traffic"  # a write done: served (or a state/lease write)
    SERVED = "served"  # a write is now served (or a resumed step is, after waiting for it)
    BAKE = "bake"
    VERDICT = "verdict"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    HOLD = "hold"
    PAUSE = "pause"
    WARN = "warn"
    ERROR = "error"
    NOOP = "noop"
    STOPPED = "stopped"  # someone else changed the service: this engine stops without writing


class OutcomeKind(StrEnum):
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    NOOP = "noop"
    STEPPED = "stepped"
    STOPPED = "stopped"  # by someone else's change (exit 4)
    HELD = "held"  # not enough evidence either way: traffic kept where it is (exit 5)


class RollbackWhy(StrEnum):
    """Why a rollout was ended by putting stable back; only a judged failure marks the candidate failed."""

    SMOKE = "smoke"
    ANALYSIS = "analysis"
    INCONCLUSIVE = "inconclusive"
    INTERRUPTED = "interrupted"
    INFRASTRUCTURE = "infrastructure"
    OPERATOR = "operator"

    @property
    def judged_failure(self) -> bool:
        """Smoke checks or the judge (health and crash loops included) found the candidate bad."""
        return self in (RollbackWhy.SMOKE, RollbackWhy.ANALYSIS)
