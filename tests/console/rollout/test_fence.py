"""The fence and the pure choices, on service values built by hand (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from console.errors import UsageError
from console.model import LEASE_ANNOTATION, ROLLOUT_ANNOTATION, Revision, ServiceState, TrafficStatus, TrafficTarget
from console.rollout import choice
from console.rollout.fence import Fence, RolledBackByOperator, ServiceChanged, changes, stop_error
from console.rollout.outcomes import ExitCode, RollbackWhy
from console.state import FAILED_ANNOTATION, Lease, Phase, RolloutState

STABLE, CANDIDATE = "api-00010-abc", "api-00011-def"


def service(split: dict[str, int], annotations: dict[str, str] | None = None, served: dict[str, int] | None = None,
            modifier: str = "") -> ServiceState:
    traffic = tuple(TrafficTarget(pct, rev, "candidate" if rev == CANDIDATE else None) for rev, pct in split.items())
    statuses = tuple(TrafficStatus(pct, rev) for rev, pct in (served or split).items())
    return ServiceState("p", "r", "api", "etag-1", 5, 5, False, traffic, statuses, CANDIDATE, CANDIDATE,
                        MappingProxyType(dict(annotations or {})), last_modifier=modifier)


def rollout(phase: str = Phase.BAKING, **kw) -> RolloutState:
    return RolloutState("r-1", CANDIDATE, STABLE, phase, 0, 10, (10, 50, 100), 100.0, 100.0, "ci pid 1", **kw)


def lease(holder: str, generation: int) -> str:
    return Lease(holder, "host", 1, 1e12, "s", generation).to_annotation()


def test_nothing_this_engine_did_not_write_means_no_stop_even_with_a_new_etag_or_served_split():
    mine = service({STABLE: 90, CANDIDATE: 10}, {LEASE_ANNOTATION: lease("ci", 1)})
    fence = Fence.of(mine)
    reconciled = replace(mine, etag="etag-2", traffic_statuses=(TrafficStatus(100, STABLE),), reconciling=True)
    assert changes(fence, reconciled) == []
    assert stop_error("api", "r-1", fence, reconciled, "") is None


def test_someone_elses_split_lease_or_state_is_named_with_the_values_and_who():
    mine = service({STABLE: 90, CANDIDATE: 10}, {LEASE_ANNOTATION: lease("ci pid 1", 1)})
    fence = Fence.of(mine)
    theirs = service({STABLE: 70, CANDIDATE: 30}, {LEASE_ANNOTATION: lease("ci pid 1", 1)}, modifier="alice@example.com")
    error = stop_error("staging/api", "r-1", fence, theirs, "2026-12-01 10:00:00 UTC")
    assert isinstance(error, ServiceChanged) and error.exit_code == ExitCode.SERVICE_CHANGED == 4
    assert "70 %" in str(error) and "30 %" in str(error) and "alice@example.com" in str(error)
    taken = service({STABLE: 90, CANDIDATE: 10}, {LEASE_ANNOTATION: lease("ci pid 2", 2)})
    assert changes(fence, taken) == ["lease ci pid 1 (generation 1) → ci pid 2 (generation 2)"]


def test_an_operators_rollback_of_this_rollout_is_told_apart_and_exits_1():
    fence = Fence.of(service({STABLE: 90, CANDIDATE: 10}, {ROLLOUT_ANNOTATION: rollout().to_annotation()}))
    ended = rollout(Phase.ROLLED_BACK, reason="rolled back by alice while ci was driving", ended_by="alice pid 9")
    back = service({STABLE: 100}, {ROLLOUT_ANNOTATION: ended.to_annotation()})
    error = stop_error("staging/api", "r-1", fence, back, "")
    assert isinstance(error, RolledBackByOperator) and error.exit_code == ExitCode.ROLLED_BACK
    assert "rolled back by alice pid 9" in str(error)
    assert isinstance(stop_error("staging/api", "r-other", fence, back, ""), ServiceChanged)


def test_only_judged_failures_mark_a_candidate_failed():
    assert {why for why in RollbackWhy if why.judged_failure} == {RollbackWhy.SMOKE, RollbackWhy.ANALYSIS}


def test_pause_stops_the_bake_clock_and_resume_moves_it_on_by_the_pause():
    state = rollout(served_at=160.0)
    paused = state.paused(400.0)
    assert paused.phase == Phase.PAUSED and paused.active
    resumed = paused.resumed(1000.0)
    assert resumed.phase == Phase.BAKING and resumed.paused_at is None
    assert 1000.0 - resumed.served_at == 400.0 - 160.0  # baked as long as before the pause
    assert resumed.step_started == 100.0 + 600.0


def test_a_state_round_trips_with_its_drivers_and_serving_time():
    state = rollout(served_at=160.0).driven_by("ci pid 1").driven_by("ci pid 2")
    assert state.drivers == ("ci pid 1", "ci pid 2") and state.driver == "ci pid 2"
    assert RolloutState.from_annotation(state.to_annotation()) == state
    assert Lease.from_annotation(lease("x", 7)).generation == 7


def revisions() -> dict[str, Revision]:
    return {
        "api-00009-old": Revision("api-00009-old", "api", 10.0, "img:1", 1, 0.5, True),
        STABLE: Revision(STABLE, "api", 20.0, "img:2", 1, 0.5, True),
        CANDIDATE: Revision(CANDIDATE, "api", 30.0, "img:3", 1, 0.5, True),
    }


def test_choices_stable_candidate_and_rollback_target():
    at_stable = service({STABLE: 100})
    assert choice.stable_revision(at_stable, "api") == STABLE
    assert choice.pick_candidate(at_stable, revisions(), STABLE, None, "api") == CANDIDATE
    failed = service({STABLE: 100}, {FAILED_ANNOTATION: CANDIDATE})
    assert choice.pick_candidate(failed, revisions(), STABLE, None, "api") is None  # failed: not retried unnamed
    assert choice.pick_candidate(failed, revisions(), STABLE, "11", "api") == CANDIDATE  # named: it is
    assert choice.rollback_target(at_stable, revisions(), None, "api") == "api-00009-old"
    mid = service({STABLE: 90, CANDIDATE: 10}, {ROLLOUT_ANNOTATION: rollout().to_annotation()})
    assert choice.rollback_target(mid, revisions(), None, "api") == STABLE
    with pytest.raises(UsageError, match="serves"):
        choice.stable_revision(service({STABLE: 50, CANDIDATE: 50}), "api")
