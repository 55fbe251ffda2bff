"""Where the judge's counts come from: Cloud Run's request log or Cloud Monitoring (pure).

`[analysis] source`:
- "monitoring": Monitoring's complete 60 s windows (minutes behind).
- "logs": the request log's 10 s buckets (seconds behind), whatever happens.
- "auto" (default): the request log while its entries flow for the service — stable's own
  entries seen — and agree with Monitoring's complete windows as those arrive; otherwise
  Monitoring, with the reason in plain words. An exclusion filter on the request log shows as
  no entries, a sampling one as counts below Monitoring's, a broken tail as a stall.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

SourcePolicy = Literal["auto", "logs", "monitoring"]

FIRST_ENTRY_GRACE_SECONDS = 45.0  # how long auto waits for stable's first request log entry
STALL_SECONDS = 60.0  # entries flowed, then none arrived for this long: the stream stalled
RELATIVE_TOLERANCE = 0.02  # window edges: a request may fall in the next window on one side


class Source(StrEnum):
    LOGS = "logs"
    MONITORING = "monitoring"


@dataclass(frozen=True)
class WindowCheck:
    """One revision's requests in one complete Monitoring window, counted by both sources."""

    revision: str
    start: float
    end: float
    monitoring_requests: int
    log_requests: int


@dataclass(frozen=True)
class SourceChoice:
    source: Source
    reason: str | None = None  # why auto chose Monitoring (None otherwise)
    waiting: bool = False  # logs, but stable's first entries have not arrived yet


def disagreement(check: WindowCheck) -> str | None:
    """A sentence when the two counts differ by more than counting noise, else None.

    Both sources count the same requests; they differ only at window edges (a request logged
    at its start may be counted by Monitoring in the next minute), so allow 2 √n + 2 % + 1.
    """
    expected = check.monitoring_requests
    tolerance = 2 * math.sqrt(max(expected, 1)) + RELATIVE_TOLERANCE * expected + 1
    if abs(check.log_requests - expected) <= tolerance:
        return None
    return (
        f"the request log has {check.log_requests:,} requests of {check.revision} in the minute ending "
        f"{_clock(check.end)} where Cloud Monitoring counts {expected:,} (more apart than ±{tolerance:,.0f}): "
        "an exclusion or sampling filter on run.googleapis.com/requests?"
    )


def choose_source(
    policy: SourcePolicy,
    *,
    now: float,
    looking_since: float,
    stable: str,
    stable_last_received: float | None,
    service_last_received: float | None,
    checks: Sequence[WindowCheck] = (),
) -> SourceChoice:
    """The source for the next look, from what the request log has shown so far."""
    if policy == "monitoring":
        return SourceChoice(Source.MONITORING)
    if policy == "logs":
        return SourceChoice(Source.LOGS, waiting=stable_last_received is None)
    for check in checks:
        why = disagreement(check)
        if why is not None:
            return SourceChoice(Source.MONITORING, why)
    if stable_last_received is None:
        waited = now - looking_since
        if waited < FIRST_ENTRY_GRACE_SECONDS:
            return SourceChoice(Source.LOGS, waiting=True)
        return SourceChoice(
            Source.MONITORING,
            f"no request log entry of {stable} arrived in {waited:.0f} s (run.googleapis.com/requests excluded, "
            "or no traffic?)",
        )
    newest = service_last_received if service_last_received is not None else stable_last_received
    if now - newest > STALL_SECONDS:
        return SourceChoice(
            Source.MONITORING,
            f"the request log stalled: its newest entry arrived {now - newest:.0f} s ago (limit {STALL_SECONDS:g} s)",
        )
    return SourceChoice(Source.LOGS)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t))
