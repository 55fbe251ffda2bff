"""The engine's low-traffic policy (issue 12) against the in-process emulator: the exposure plan
and an inconclusive end that holds the split (exit 5) instead of rolling back."""

from __future__ import annotations

from console.engine import Engine
from console.gcp.run import CloudRun
from console.state import read_rollout

STAGING = ("vinsight-staging", "us-central1")


def _starved(repo_config, on_inconclusive: str):
    """The shipped config with a minimum no rollout can serve: every judged step ends inconclusive."""
    return repo_config.model_copy(update={
        "analysis": repo_config.analysis.model_copy(update={"min_requests": 10**9}),
        "rollout": repo_config.rollout.model_copy(update={"on_inconclusive": on_inconclusive}),
    })


def _run(config, emulator, clients_for):
    emu = emulator(scenario="healthy")
    clients = clients_for(emu)
    target = config.targets("staging", "vinsight-backend")[0]
    events = []
    outcome = Engine(config, target, clients, emu.clock, on_event=events.append).auto_promote()
    return clients, events, outcome


def test_an_inconclusive_step_holds_the_split_with_exit_5(repo_config, emulator, clients_for):
    clients, events, outcome = _run(_starved(repo_config, "pause"), emulator, clients_for)
    assert outcome.outcome == "held" and outcome.exit_code == 5, outcome.message
    # the plan said why it took a bigger first step
    start = next(e.message for e in events if e.kind == "start")
    assert "steps 50 → 100 %" in start and "even 50 % falls short" in start
    service = CloudRun(clients).get_service(*STAGING, "vinsight-backend")
    assert service.served_split() == {outcome.candidate: 50, outcome.stable: 50}
    assert read_rollout(service.annotations).active  # resumable
    assert "held: not enough evidence at 50 %" in outcome.message and "not enough traffic yet" in outcome.message
    assert [s.verdict for s in outcome.steps] == ["inconclusive"]


def test_on_inconclusive_rollback_still_rolls_back_after_one_extension(repo_config, emulator, clients_for):
    clients, events, outcome = _run(_starved(repo_config, "rollback"), emulator, clients_for)
    assert outcome.outcome == "rolled_back" and outcome.exit_code == 1, outcome.message
    assert any("baking extended once" in e.message for e in events)
    assert "not enough evidence to promote (fail safe)" in outcome.message
