from dataclasses import replace

from console.state import Lease, RolloutState, failed_candidates, lease_blocks, read_lease, read_rollout, with_failed


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
    assert not lease_blocks(None, me, 100, pid_alive=True)
    assert not lease_blocks(lease(session="mine"), me, 100, pid_alive=True)  # ours
    assert not lease_blocks(lease(host="b", expires=50), me, 100, pid_alive=True)  # expired
    assert lease_blocks(lease(host="b"), me, 100, pid_alive=True)  # another runner, live
    assert not lease_blocks(lease(pid=7), me, 100, pid_alive=False)  # this host, process gone (kill -9)
    assert lease_blocks(lease(pid=7), me, 100, pid_alive=True)  # this host, another live process
    assert lease_blocks(lease(session="other"), me, 100, pid_alive=True)  # this process, another engine
    assert read_lease({"vinconsole.dev/lease": me.to_annotation()}) == me
