"""The rollout engine end to end against the in-process emulator (real Google clients), on a
manual clock so that production-length bakes pass instantly and deterministically."""

from __future__ import annotations

import re
import threading
from dataclasses import replace

import pytest

from console.engine import Engine
from console.errors import LeaseHeldError, UsageError
from console.gcp.logs import Logs, audit_log_name, rfc3339
from console.gcp.run import CloudRun
from console.model import TrafficTarget
from console.rollout.outcomes import EventKind
from console.state import read_rollout
from tests.webhook import webhook

STAGING = ("vinsight-staging", "us-central1")


def on_monitoring(config):
    """The config judging on Cloud Monitoring's windows (not the request log)."""
    return config.model_copy(update={"analysis": config.analysis.model_copy(update={"source": "monitoring"})})


def make_engine(repo_config, emu, clients, **kwargs):
    target = repo_config.targets("staging", "vinsight-backend")[0]
    events = []
    engine = Engine(repo_config, target, clients, emu.clock, on_event=events.append, **kwargs)
    return engine, events


def served(clients):
    return CloudRun(clients).get_service(*STAGING, "vinsight-backend").served_split()


@pytest.fixture
def rollout(repo_config, emulator, clients_for):
    def run(scenario: str, **kwargs):
        emu = emulator(scenario=scenario)
        clients = clients_for(emu)
        engine, events = make_engine(repo_config, emu, clients, **kwargs)
        before = served(clients)
        outcome = engine.auto_promote()
        return emu, clients, engine, events, before, outcome

    return run


def test_healthy_candidate_is_promoted_through_every_step(rollout):
    emu, clients, engine, events, before, outcome = rollout("healthy")
    assert outcome.outcome == "promoted" and outcome.exit_code == 0, outcome.message
    assert served(clients) == {outcome.candidate: 100}
    assert [s.percent for s in outcome.steps] == [10, 50, 100]
    assert [s.verdict for s in outcome.steps] == ["pass", "pass", "pass"]
    judged = outcome.steps[0].metrics
    assert judged["candidate"]["requests"] >= 200 and judged["stable"]["error_rate"] is not None
    assert all(r.ok for r in outcome.smoke)
    state = read_rollout(CloudRun(clients).get_service(*STAGING, "vinsight-backend").annotations)
    assert state.phase == "promoted" and state.stable == outcome.stable
    # every traffic change on the way went through 10 and 50 %
    percents = [e.data["after"].get(outcome.candidate, 0) for e in events if e.kind == "traffic"]
    assert 10 in percents and 50 in percents and percents[-1] == 100
    # a write that only moves the lease or the state never reads as a traffic change
    for e in events:
        if e.kind == "traffic" and "after" in e.data:
            assert ("traffic now" in e.message) == (e.data["after"] != e.data["before"]), e.message
    assert any("lease taken (traffic unchanged: " in e.message for e in events)


def test_audit_entries_record_every_change(rollout):
    emu, clients, engine, events, before, outcome = rollout("healthy")
    since = rfc3339(emu.fleet.started)  # only this test's entries, not the emulator's seeded history
    entries = Logs(clients).list(
        STAGING[0], f'logName = "{audit_log_name(STAGING[0])}" AND timestamp >= "{since}"', newest_first=False
    )
    kinds = [e.payload["kind"] for e in entries]
    assert "lease" in kinds and "start" in kinds and "smoke" in kinds and "verdict" in kinds
    assert kinds.count("promote") == 1 and kinds.count("verdict") == 2
    promote = next(e.payload for e in entries if e.payload["kind"] == "promote")
    assert promote["after"] == {outcome.candidate: 100}
    to_full = next(e.payload for e in entries if e.payload["kind"] == "traffic" and e.payload.get("percent") == 100)
    assert to_full["before"] == {outcome.stable: 50, outcome.candidate: 50}
    assert to_full["after"] == {outcome.candidate: 100}
    assert promote["actor"].startswith(("operator:", "ci:"))


def test_audit_entries_say_written_and_served_and_a_failed_write_is_said_and_retried(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    engine, events = make_engine(repo_config, emu, clients)
    emu.inject_fault("WriteLogEntries", "PERMISSION_DENIED", times=2)  # the first entry fails twice
    outcome = engine.auto_promote()
    assert outcome.outcome == "promoted", outcome.message
    warned = [e.message for e in events if e.kind == EventKind.WARN and e.data.get("audit_not_written")]
    assert warned and "'lease' not written" in warned[0] and "retried" in warned[0]
    since = rfc3339(emu.fleet.started)
    entries = Logs(clients).list(
        STAGING[0], f'logName = "{audit_log_name(STAGING[0])}" AND timestamp >= "{since}"', newest_first=False
    )
    kinds = [e.payload["kind"] for e in entries]
    assert kinds[0] == "lease" and "start" in kinds and kinds.count("promote") == 1  # nothing lost, in order
    step = next(e.payload for e in entries if e.payload["kind"] == "traffic" and e.payload.get("percent") == 10)
    assert step["before_written"] == step["before"] == {outcome.stable: 100}
    assert step["after_written"] == step["after"] == {outcome.stable: 90, outcome.candidate: 10}  # served when audited
    assert step["lease_generation"] == 1 and not engine.audit.pending


def test_error_regression_rolls_back_with_the_rates_in_the_reasons(rollout):
    emu, clients, engine, events, before, outcome = rollout("regression")
    assert outcome.outcome == "rolled_back" and outcome.exit_code == 1
    assert served(clients) == before
    assert len(outcome.steps) <= 2 and outcome.steps[-1].verdict == "fail"
    reasons = " ".join(outcome.steps[-1].reasons)
    assert "5xx" in reasons and "vs stable" in reasons
    service = CloudRun(clients).get_service(*STAGING, "vinsight-backend")
    assert outcome.candidate in service.annotations["vinconsole.dev/failed"]
    assert service.tags()["candidate"] == outcome.candidate  # its URL still works for debugging


def test_latency_regression_rolls_back_naming_p95(rollout):
    emu, clients, engine, events, before, outcome = rollout("slow")
    assert outcome.outcome == "rolled_back" and outcome.exit_code == 1
    assert "p95" in " ".join(outcome.steps[-1].reasons)
    # why fewer requests than the step's: on the request log, each instance's own warm-up is left out
    assert re.search(r"candidate requests on instances past their first \d+ s", " ".join(outcome.steps[-1].reasons))
    assert served(clients) == before


def test_crash_looping_candidate_fails_smoke_and_never_gets_traffic(rollout):
    emu, clients, engine, events, before, outcome = rollout("crashloop")
    assert outcome.outcome == "rolled_back" and outcome.exit_code == 1
    assert outcome.steps == [] and any(not r.ok for r in outcome.smoke)
    service = emu.fleet.find(*STAGING, "vinsight-backend")
    assert all(outcome.candidate not in split for _, split in service.split_changes())


def test_failed_candidate_is_not_retried(rollout, repo_config, clients_for):
    emu, clients, engine, events, before, outcome = rollout("regression")
    again, _ = make_engine(repo_config, emu, clients)
    second = again.auto_promote()
    assert second.outcome == "noop" and second.exit_code == 0
    assert "nothing to do" in second.message


def test_flaky_api_completes_or_exits_3_with_safe_traffic(rollout):
    emu, clients, engine, events, before, outcome = rollout("flaky-api")
    split = served(clients)
    assert sum(split.values()) == 100
    if outcome.exit_code == 0:
        assert split == {outcome.candidate: 100}
    else:
        assert outcome.exit_code == 3 and "traffic" in outcome.message


def test_second_driver_is_refused_and_named(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    first, _ = make_engine(repo_config, emu, clients)
    first.acquire()
    second, _ = make_engine(repo_config, emu, clients)
    second.lease = replace(second.lease, host="another-runner", pid=1, holder="ci:github-actions run 7 pid 1")
    with pytest.raises(LeaseHeldError) as caught:
        second.auto_promote()
    assert first.lease.holder in str(caught.value)


def test_interrupt_rolls_back_and_exits_130(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    stop = threading.Event()
    engine, events = make_engine(repo_config, emu, clients, stop=stop)
    engine.on_event = lambda e: (events.append(e), stop.set() if e.kind == "bake" else None)
    before = served(clients)
    outcome = engine.auto_promote()
    assert outcome.exit_code == 130
    assert served(clients) == before
    assert "interrupted" in outcome.message


def test_interrupt_with_hold_keeps_traffic_and_resumes(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    stop = threading.Event()
    engine, events = make_engine(repo_config, emu, clients, stop=stop, on_interrupt="hold")
    engine.on_event = lambda e: (events.append(e), stop.set() if e.kind == "bake" else None)
    outcome = engine.auto_promote()
    assert outcome.exit_code == 130
    held = served(clients)
    assert sorted(held.values()) == [10, 90]
    paused = read_rollout(CloudRun(clients).get_service(*STAGING, "vinsight-backend").annotations)
    assert paused.phase == "paused" and paused.paused_at is not None  # a state every console shows
    emu.clock.advance(3600)  # an hour paused: the bake clock does not count it
    resumed, resumed_events = make_engine(repo_config, emu, clients)
    final = resumed.auto_promote()
    assert any(e.kind == "resume" for e in resumed_events)
    assert final.outcome == "promoted" and served(clients) == {outcome.candidate: 100}
    first = final.steps[0]
    assert first.percent == 10 and first.started >= paused.paused_at + 3600 - (paused.paused_at - paused.step_started) - 1


def test_one_command_rollback_and_manual_steps(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    engine, _ = make_engine(repo_config, emu, clients)
    stepped = engine.step()
    assert stepped.outcome == "stepped" and served(clients)[stepped.candidate] == 10
    engine.step()
    assert served(clients)[stepped.candidate] == 50
    back = engine.rollback_now()
    assert back.outcome == "rolled_back" and served(clients) == {stepped.stable: 100}
    # the confirmation says when there is nothing to do, and when a "rollback" would roll forward unchecked
    assert engine.plan_rollback(stepped.stable)[1] == f"nothing to roll back: {stepped.stable} already serves 100 %"
    forward = engine.plan_rollback(stepped.candidate)[1]
    assert forward.startswith(f"send 100 % to {stepped.candidate}") and "rolls forward with no smoke checks" in forward
    # what an operator types under pressure: the suffix or the number, never an ambiguous guess
    suffix = stepped.stable.removeprefix("vinsight-backend-")
    number = str(int(suffix.split("-")[0]))
    assert engine.resolve_revision(suffix) == engine.resolve_revision(number) == stepped.stable
    with pytest.raises(UsageError, match="does not exist in staging/vinsight-backend; its newest revisions: "):
        engine.resolve_revision("99999")


def test_image_is_deployed_with_no_traffic_then_rolled_out(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    engine, events = make_engine(repo_config, emu, clients)
    before = served(clients)
    outcome = engine.auto_promote(image="us-central1-docker.pkg.dev/vinsight/app/backend:v9.9.9")
    assert outcome.outcome == "promoted", outcome.message
    revisions = {r.name: r for r in CloudRun(clients).list_revisions(*STAGING, "vinsight-backend")}
    assert revisions[outcome.candidate].image.endswith(":v9.9.9")
    assert outcome.candidate not in before
    deployed = next(e for e in events if "deployed" in e.message)
    assert deployed.kind == "traffic"


def test_metrics_outage_past_the_bound_puts_stable_back_and_exits_3(repo_config, emulator, clients_for):
    from console.engine import READ_OUTAGE_BOUND_SECONDS

    emu = emulator()
    clients = clients_for(emu)
    clients.retry_deadline = 0.3
    engine, events = make_engine(on_monitoring(repo_config), emu, clients)  # the outage is Monitoring's
    before = served(clients)
    engine.on_event = lambda e: (events.append(e), e.kind == "bake" and emu.inject_fault("ListTimeSeries", "UNAVAILABLE", 10_000))
    outcome = engine.auto_promote()
    assert outcome.exit_code == 3
    assert served(clients) == before
    assert "ListTimeSeries" in outcome.message and "traffic put back on stable" in outcome.message
    missing = [e for e in events if e.kind == "warn" and "a missing sample, not a verdict" in e.message]
    assert missing and missing[-1].at - missing[0].at >= READ_OUTAGE_BOUND_SECONDS - 120  # waited, then gave up
    failed = CloudRun(clients).get_service(*STAGING, "vinsight-backend").annotations.get("vinconsole.dev/failed", "")
    assert outcome.candidate not in failed


def test_reads_refused_for_a_while_during_a_bake_are_missing_samples_not_a_rollback(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    clients.retry_deadline = 0.3
    engine, events = make_engine(on_monitoring(repo_config), emu, clients)  # the refused reads are Monitoring's
    refused = []

    def on_event(event):
        events.append(event)
        if event.kind == "bake" and not refused:  # a quota refuses reads for a few minutes of the first bake
            refused.append(event)
            emu.inject_fault("ListTimeSeries", "RESOURCE_EXHAUSTED", 12)

    engine.on_event = on_event
    outcome = engine.auto_promote()
    assert outcome.outcome == "promoted", outcome.message
    assert any(e.kind == "warn" and "a missing sample, not a verdict" in e.message for e in events)


def test_webhook_is_told_and_a_failing_one_never_fails_the_rollout(repo_config, emulator, clients_for, monkeypatch):
    with webhook(statuses=(500, 200)) as (url, received):  # the first post fails
        monkeypatch.setenv("VINCONSOLE_WEBHOOK_URL", url)
        emu = emulator()
        engine, events = make_engine(repo_config, emu, clients_for(emu))
        outcome = engine.auto_promote()
    assert outcome.outcome == "promoted"
    assert any("rolling out" in post["text"] for post in received)
    assert any("promoted" in post["text"] for post in received)
    assert any(e.kind == "warn" and "webhook" in e.message for e in events)


def test_two_engines_in_one_process_are_two_holders(repo_config, emulator, clients_for):
    """The terminal UI may hold an automatic rollout while the operator presses a key: the lease
    must stop the second driver even in the same process."""
    emu = emulator()
    clients = clients_for(emu)
    first, _ = make_engine(repo_config, emu, clients)
    first.acquire()
    second, _ = make_engine(repo_config, emu, clients)
    with pytest.raises(LeaseHeldError):
        second.step()
    first.release()
    assert second.step().outcome == "stepped"


def test_a_driver_late_to_renew_keeps_its_lease_for_a_grace_then_is_taken_over_with_a_warning(repo_config, emulator,
                                                                                                clients_for):
    """A lapsed lease whose holder still runs on this host is a driver late to renew (a loaded
    machine), not an abandoned one: taking it would undo that driver's step. After another lease's
    length unrenewed it is taken over, and the taker says so."""
    emu = emulator()
    clients = clients_for(emu)
    first, _ = make_engine(repo_config, emu, clients)
    first.acquire()
    emu.clock.advance(repo_config.rollout.lease_seconds + 10)  # lapsed, its process (this one) still runs
    second, events = make_engine(repo_config, emu, clients)
    with pytest.raises(LeaseHeldError) as caught:
        second.step()
    assert "lapsed 10 s ago" in str(caught.value) and first.lease.holder in str(caught.value)
    emu.clock.advance(repo_config.rollout.lease_seconds)  # a whole lease more unrenewed: stuck, not late
    assert second.step().outcome == "stepped"
    assert any(e.kind == "warn" and "lapsed" in e.message and first.lease.holder in e.message for e in events)


def test_a_lease_left_by_an_ended_engine_of_this_process_frees_at_once(repo_config, emulator, clients_for):
    """An engine stopped by someone else's change may write nothing, its lease included; in the
    terminal UI the next action (another engine of the same process) must not wait out that lease."""
    emu = emulator()
    clients = clients_for(emu)
    first, _ = make_engine(repo_config, emu, clients)
    first.acquire()
    first.fenced_out = True  # as after ServiceChanged: its release writes nothing
    first.release()
    second, events = make_engine(repo_config, emu, clients)
    assert second.step().outcome == "stepped"
    assert any(e.kind == "warn" and first.lease.holder in e.message and "no longer runs" in e.message for e in events)


def test_a_step_is_timed_from_when_its_write_is_served_not_from_the_smoke_checks_before_it(repo_config, emulator, clients_for):
    emu = emulator(scenario="healthy")
    clients = clients_for(emu)
    engine, events = make_engine(repo_config, emu, clients)
    checks = engine.smoke

    def slow_smoke(candidate):  # smoke checks that take 45 s of the rollout's time, on the old split
        results = checks(candidate)
        emu.clock.advance(45)
        return results

    engine.smoke = slow_smoke
    outcome = engine.auto_promote()
    assert outcome.outcome == "promoted", outcome.message
    for report in outcome.steps[:-1]:  # 10 and 50 %: the 100 % step is its smoke checks
        # the traffic event is emitted once Cloud Run serves the write (the emulator reconciles after a delay)
        write = next(e for e in events if e.kind == "traffic" and e.data.get("after", {}).get(outcome.candidate) == report.percent)
        assert write.at - 1 <= report.started <= write.at, (report.percent, report.started, write.at)
        sent = next(e for e in reversed(events[: events.index(write)]) if e.kind == "smoke")
        assert report.started >= sent.at + emu.fleet.reconcile_seconds - 1


def test_an_environment_with_its_own_pace_rolls_out_at_that_pace(repo_config, emulator, clients_for):
    from console.config import RolloutPace

    environments = dict(repo_config.environments)
    environments["staging"] = environments["staging"].model_copy(update={"rollout": RolloutPace(steps=[50, 100], bake_seconds=120, logs_bake_seconds=120)})
    config = repo_config.model_copy(update={"environments": environments})
    emu = emulator(config=config)
    clients = clients_for(emu)
    engine, _ = make_engine(config, emu, clients)
    outcome = engine.auto_promote()
    assert outcome.outcome == "promoted", outcome.message
    assert [s.percent for s in outcome.steps] == [50, 100]
    assert outcome.steps[0].metrics["limits"]["min_bake_seconds"] == 120  # the judge baked at staging's pace
    production = Engine(config, config.targets("production", "vinsight-backend")[0], clients, emu.clock)
    assert "then send it 10 %" in production.plan_step()[1]  # production keeps [rollout]'s pace


def test_a_change_by_someone_else_landed_just_before_a_verdict_is_never_overwritten(repo_config, emulator, clients_for):
    emu = emulator()
    clients = clients_for(emu)
    engine, events = make_engine(repo_config, emu, clients)
    operator = CloudRun(clients, emu.clock)
    changed = {}

    def on_event(event):
        events.append(event)
        if event.kind == "verdict" and not changed:  # an operator's 70/30 lands (served) right before the next step
            service = operator.get_service(*STAGING, "vinsight-backend")
            stable, candidate = engine.state.stable, engine.state.candidate
            changed["split"] = {stable: 70, candidate: 30}
            operator.write_traffic(service, [TrafficTarget(70, stable), TrafficTarget(30, candidate, "candidate")])

    engine.on_event = on_event
    outcome = engine.auto_promote()
    assert outcome.exit_code == 4 and outcome.outcome == "stopped", outcome.message
    assert "someone else changed the service" in outcome.message and "70 %" in outcome.message
    assert served(clients) == changed["split"]  # not 50/50, not promoted: the operator's split stands
    assert [e for e in events if e.kind == "stopped"]
    assert not [e for e in events[events.index(next(e for e in events if e.kind == "stopped")):] if e.kind == "traffic"]
