"""Rollout state and the lease, as kept in annotations on the Cloud Run service itself.

The state is written in the same UpdateService call as the traffic it describes, so any
console or CI runner can read, show and resume a rollout, and a crashed console loses nothing.
It records when the current step was seen served (a step is judged on windows from then only),
who drove each part, who ended it, and a pause. The lease carries a generation, the fencing token
every write checks (console.rollout.fence). Pure: parsing, serialising and deciding; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from console.model import ANNOTATION_PREFIX, LEASE_ANNOTATION, ROLLOUT_ANNOTATION

STABLE_ANNOTATION = ANNOTATION_PREFIX + "stable"
FAILED_ANNOTATION = ANNOTATION_PREFIX + "failed"
FAILED_KEPT = 20
# The rollout annotation stays under this many bytes (Kubernetes-style annotations share 256 KiB per
# object): the oldest step records go first, then long reasons are cut. A rollout of 3 steps with
# the judge's evidence takes ~1.5 KiB.
ROLLOUT_ANNOTATION_MAX_BYTES = 16_384
HISTORY_KEPT = 24  # step records (extensions included): the newest are kept
REASON_MAX_CHARS = 300



class Phase(StrEnum):
    SMOKE = "smoke"
    BAKING = "baking"
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"  # a judged failure, or an operator's rollback
    ABORTED = "aborted"  # ended by an interrupt or an infrastructure error: the candidate is not marked failed


ACTIVE_PHASES = (Phase.SMOKE, Phase.BAKING, Phase.PAUSED)


@dataclass(frozen=True)
class StepRecord:
    percent: int
    started: float
    ended: float | None = None
    verdict: str | None = None  # pass | fail | inconclusive
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RolloutState:
    id: str
    candidate: str
    stable: str
    phase: str  # a Phase
    step: int  # index into the steps
    percent: int
    steps: tuple[int, ...]
    started: float
    step_started: float
    driver: str
    evidence: Mapping[str, Any] = field(default_factory=dict)  # the judge's carried evidence
    latency_threshold_ms: float | None = None
    extended: bool = False
    history: tuple[StepRecord, ...] = ()
    reason: str = ""
    ended: float | None = None
    candidate_created: float | None = None
    # when the current step was seen served (Cloud Run reconciles seconds after the write): the
    # step is judged only on windows from here; None until a driver has seen it served
    served_at: float | None = None
    ended_by: str | None = None  # who ended it (an operator's rollback names the operator)
    drivers: tuple[str, ...] = ()  # every driver that drove a part, in order (takeovers credit each)
    paused_at: float | None = None  # phase paused: since when (the bake clock stops counting then)

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    def to_annotation(self) -> str:
        """Compact JSON, at most ROLLOUT_ANNOTATION_MAX_BYTES: the newest HISTORY_KEPT step records,
        reasons cut to REASON_MAX_CHARS, then older records dropped until it fits."""
        data = asdict(self)
        history = [
            {k: v for k, v in asdict(h).items() if v not in (None, ())} | (
                {"reasons": [r[:REASON_MAX_CHARS] for r in h.reasons]} if h.reasons else {})
            for h in self.history[-HISTORY_KEPT:]
        ]
        while True:
            data["history"] = history
            text = json.dumps(data, separators=(",", ":"), sort_keys=True)
            if len(text.encode()) <= ROLLOUT_ANNOTATION_MAX_BYTES or not history:
                return text
            history = history[1:]

    @classmethod
    def from_annotation(cls, raw: str) -> RolloutState:
        data = json.loads(raw)
        data["steps"] = tuple(data["steps"])
        data["drivers"] = tuple(data.get("drivers", ()))
        data["history"] = tuple(
            StepRecord(**{**h, "reasons": tuple(h.get("reasons", ()))}) for h in data.get("history", ())
        )
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def driven_by(self, driver: str) -> RolloutState:
        """This state as driven by `driver` from now on, crediting it beside those before."""
        drivers = self.drivers or ((self.driver,) if self.driver else ())
        if not drivers or drivers[-1] != driver:
            drivers = drivers + (driver,)
        return replace(self, driver=driver, drivers=drivers)

    def paused(self, at: float) -> RolloutState:
        """Held where it is by the operator: the traffic stays, the bake clock stops."""
        return replace(self, phase=Phase.PAUSED, paused_at=at)

    def resumed(self, at: float) -> RolloutState:
        """The same rollout baking again; the bake clock (and the step's judged windows) move on by the
        pause, so the step is judged on as long a stretch as it has baked, never on more."""
        if self.phase != Phase.PAUSED:
            return self
        pause = max(0.0, at - self.paused_at) if self.paused_at is not None else 0.0
        return replace(
            self,
            phase=Phase.BAKING if self.percent else Phase.SMOKE,
            paused_at=None,
            step_started=self.step_started + pause,
            served_at=self.served_at + pause if self.served_at is not None else None,
        )

    def with_step_result(self, verdict: str, reasons: tuple[str, ...], at: float) -> RolloutState:
        record = StepRecord(self.percent, self.step_started, at, verdict, tuple(reasons)[:6])
        return replace(self, history=self.history + (record,))


def read_rollout(annotations: Mapping[str, str]) -> RolloutState | None:
    raw = annotations.get(ROLLOUT_ANNOTATION)
    if not raw:
        return None
    try:
        return RolloutState.from_annotation(raw)
    except (ValueError, TypeError, KeyError):
        return None


def failed_candidates(annotations: Mapping[str, str]) -> list[str]:
    raw = annotations.get(FAILED_ANNOTATION, "")
    return [name for name in raw.split(",") if name]


def with_failed(annotations: Mapping[str, str], revision: str) -> str:
    names = [n for n in failed_candidates(annotations) if n != revision] + [revision]
    return ",".join(names[-FAILED_KEPT:])


@dataclass(frozen=True)
class Lease:
    holder: str  # "ci:github/123@runner-7 pid 4242" or "operator:alice@laptop pid 99"
    host: str
    pid: int
    expires: float
    session: str = ""  # one per engine: two drivers in one process are two holders
    # the fencing token: each take of the lease writes one more than the lease it replaced, and every
    # write checks it, so a holder frozen past its expiry and woken can never write again
    generation: int = 0

    def same_holder(self, other: Lease) -> bool:
        return (self.host, self.pid, self.session) == (other.host, other.pid, other.session)

    def to_annotation(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_annotation(cls, raw: str | None) -> Lease | None:
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None


def read_lease(annotations: Mapping[str, str]) -> Lease | None:
    return Lease.from_annotation(annotations.get(LEASE_ANNOTATION))


def lease_blocks(lease: Lease | None, me: Lease, now: float, holder_runs: bool, late_grace: float = 0.0) -> bool:
    """Whether an existing lease stops `me` from driving the service.

    Ours, or held on this host by a driver that no longer runs → free. Expired → free, except
    that a holder still running on this host keeps it for `late_grace` seconds past expiry: a driver
    late to renew (a loaded machine) is still driving, and taking its lease would undo its step.
    """
    if lease is None or lease.same_holder(me):
        return False
    if lease.host == me.host and not holder_runs:
        return False
    if lease.expires > now:
        return True
    return lease.host == me.host and now < lease.expires + late_grace


def lease_driving(lease: Lease | None, me: Lease, now: float, holder_runs: bool) -> bool:
    """Whether someone else is driving the service under `lease`: its lease is live, or it lapsed
    while the holder still runs on this host (a driver late to renew, e.g. on a loaded machine).
    A rollback names this holder as the one it overrode."""
    if lease is None or lease.same_holder(me):
        return False
    return lease_blocks(lease, me, now, holder_runs) or (lease.host == me.host and holder_runs)
