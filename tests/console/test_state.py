from dataclasses import replace

from console.state import (
    Lease,
    RolloutState,
    failed_candidates,
    lease_blocks,
    lease_driving,
    read_lease,
    read_rollout,
    with_failed,
)


def state(**changes) -> RolloutState:
    base = RolloutState(
        id="r-1", candidate="svc-2", stable="svc-1", phase="baking", step=1, percent=50, steps=(10, 50, 100),
        started=100.0, step_started=400.0, driver="ci:x pid 1", evidence={"v": 1},
    )
    return replace(base, **changes)


def test_rollout_state_round_trips_through_its_annotation():
    original = state().with_step_result("pass", ("5xx 0.1 % vs 0.2 %",), 390.0)
    again = read_rollout({"vinconsole.dev/rollout": original.to_annotation()})
    assert again == original
    assert again.active and again.history[0].verdict == "pass"
    assert read_rollout({"vinconsole.dev/rollout": "{not json"}) is None


def test_failed_candidates_are_kept_in_order_and_capped():
    annotations: dict = {}
    for index in range(25):
        annotations["vinconsole.dev/failed"] = with_failed(annotations, f"svc-{index}")
    names = failed_candidates(annotations)
    assert len(names) == 20 and names[-1] == "svc-24" and "svc-0" not in names


def lease(host="a", pid=1, session="s", expires=200.0) -> Lease:
    return Lease(holder=f"x@{host} pid {pid}", host=host, pid=pid, expires=expires, session=session)


def test_lease_rules():
    me = lease(session="mine")
    assert not lease_blocks(None, me, 100, holder_runs=True)
    assert not lease_blocks(lease(session="mine"), me, 100, holder_runs=True)  # ours
    assert not lease_blocks(lease(host="b", expires=50), me, 100, holder_runs=True)  # expired
    assert lease_blocks(lease(host="b"), me, 100, holder_runs=True)  # another runner, live
    assert not lease_blocks(lease(pid=7), me, 100, holder_runs=False)  # this host, process gone (kill -9)
    assert lease_blocks(lease(pid=7), me, 100, holder_runs=True)  # this host, another live process
    assert lease_blocks(lease(session="other"), me, 100, holder_runs=True)  # this process, another engine
    # lapsed, holder still runs on this host: late to renew (a loaded machine), still driving for a grace
    assert lease_blocks(lease(pid=7, expires=50), me, 100, holder_runs=True, late_grace=120)
    assert not lease_blocks(lease(pid=7, expires=50), me, 200, holder_runs=True, late_grace=120)  # past it: stuck
    assert not lease_blocks(lease(pid=7, expires=50), me, 100, holder_runs=False, late_grace=120)  # gone
    assert not lease_blocks(lease(host="b", expires=50), me, 100, holder_runs=True, late_grace=120)  # elsewhere
    assert read_lease({"vinconsole.dev/lease": me.to_annotation()}) == me


def test_who_a_rollback_overrides():
    """A driver late to renew on a loaded machine still drives: a rollback names it (CI once saw a
    rollback say nothing of the driver whose lease had lapsed a moment before)."""
    me = lease(session="mine")
    assert not lease_driving(None, me, 100, holder_runs=True)
    assert not lease_driving(lease(session="mine"), me, 100, holder_runs=True)  # ours
    assert lease_driving(lease(host="b"), me, 100, holder_runs=True)  # another runner, live lease
    assert lease_driving(lease(pid=7, expires=50), me, 100, holder_runs=True)  # lapsed, process still runs here
    assert not lease_driving(lease(pid=7, expires=50), me, 100, holder_runs=False)  # lapsed, process gone
    assert not lease_driving(lease(host="b", expires=50), me, 100, holder_runs=True)  # lapsed elsewhere: unknown


def test_the_rollout_annotation_stays_bounded_however_long_the_rollout():
    from console.state import HISTORY_KEPT, ROLLOUT_ANNOTATION_MAX_BYTES

    state = RolloutState("r1", "svc-00002-new", "svc-00001-old", "baking", 1, 50, (10, 50, 100), 0.0, 0.0,
                         "ci:github/1", evidence={"v": 1, "errors": {"llr": [0.1] * 10, "strata": [[1, 2, 3, 4]] * 20}})
    long_reason = "5xx 4.1 % vs stable 0.4 % — limit +2 pp; " * 40
    for k in range(200):  # an operator extending an inconclusive step again and again
        state = state.with_step_result("inconclusive", (long_reason,) * 6, float(k))
    text = state.to_annotation()
    assert len(text.encode()) <= ROLLOUT_ANNOTATION_MAX_BYTES
    back = RolloutState.from_annotation(text)
    assert 0 < len(back.history) <= HISTORY_KEPT and back.history[-1].ended == 199.0  # the newest kept
    assert back.evidence == state.evidence and back.candidate == state.candidate
