"""What the engine tells its caller: events as they happen, and how an action or rollout ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from console.rollout.outcomes import EventKind
from console.smoke import SmokeResult


class Interrupted(Exception):
    """SIGINT/SIGTERM (or the operator) asked the rollout to stop."""


@dataclass(frozen=True)
class Event:
    at: float
    kind: EventKind
    message: str
    step: int | None = None
    percent: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepReport:
    percent: int
    started: float
    ended: float | None = None
    verdict: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    source: str | None = None  # "logs" | "monitoring": where the step's counts came from


@dataclass
class Outcome:
    outcome: str  # an OutcomeKind
    exit_code: int  # an ExitCode
    message: str
    candidate: str | None = None
    stable: str | None = None
    smoke: list[SmokeResult] = field(default_factory=list)
    steps: list[StepReport] = field(default_factory=list)
    traffic: dict[str, int] = field(default_factory=dict)


def iso_time(at: float) -> str:
    """When, as an operator reads it in a message ('' when unknown)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""

