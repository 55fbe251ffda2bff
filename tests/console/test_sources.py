"""The engine judging on the request log, in process on a manual clock (the feed in pull mode):
seconds-old 10 s buckets, each step reporting its source, and the fallback to Monitoring."""

from __future__ import annotations

from console.emulator import Emulator
from console.engine import Engine
from console.gcp.monitoring import Metrics
from console.gcp.run import CloudRun
from console.requestlog import NEED_LAPSE_SECONDS
from console.sources import LOGS_POLL_SECONDS, StepView, next_look, sample_source


def production(config):
    return config.targets("production", "vinsight-backend")[0]


def run(config, emu, clients):
    events = []
    engine = Engine(config, production(config), clients, emu.clock, on_event=events.append)
    return engine.auto_promote(), events


def test_a_regression_is_rolled_back_on_the_request_log_within_a_minute(repo_config, emulator, clients_for):
    emu = emulator(scenario="regression")
    outcome, events = run(repo_config, emu, clients_for(emu))
    assert outcome.outcome == "rolled_back", outcome.message
    first = outcome.steps[0]
    assert first.source == "logs" and first.verdict == "fail"
    assert first.ended - first.started <= 60
    bakes = [e for e in events if e.kind == "bake"]
    assert bakes and all(e.data["source"] == "logs" for e in bakes)
    assert "of 10 s from the request log, data" in bakes[-1].message and " s old" in bakes[-1].message


def test_the_next_look_comes_just_after_the_next_bucket_completes():
    started = 1000.0
    # the watermark 7 s into the step's second bucket: the look comes as it completes, 3.5 s later
    assert next_look(started, started + 17) == 3.5
    assert next_look(started, started + 13) == LOGS_POLL_SECONDS  # 7.5 s away: never later than the poll
    assert next_look(started, started + 19.9) == 1.0  # not sooner than a second
    assert next_look(started, started - 30) == LOGS_POLL_SECONDS  # before the step: no bucket is due
    assert next_look(started, None) == LOGS_POLL_SECONDS  # no entry yet


def test_a_healthy_candidate_passes_at_the_logs_pace(repo_config, emulator, clients_for):
    emu = emulator()
    outcome, _ = run(repo_config, emu, clients_for(emu))
    assert outcome.outcome == "promoted", outcome.message
    assert [s.source for s in outcome.steps[:2]] == ["logs", "logs"]
    assert outcome.steps[-1].ended - outcome.steps[0].started <= 6 * 60
    assert all(s.metrics["limits"]["min_bake_seconds"] == repo_config.rollout.logs_bake_seconds for s in outcome.steps[:2])


def test_without_request_logs_auto_falls_back_to_monitoring_and_says_why(repo_config, manual_clock, clients_for):
    emu = Emulator(repo_config, scenario="regression", clock=manual_clock, history=False, request_logs=False)
    emu.start()
    try:
        outcome, events = run(repo_config, emu, clients_for(emu))
    finally:
        emu.stop()
    assert outcome.outcome == "rolled_back", outcome.message
    assert outcome.steps[0].source == "monitoring"
    warned = [e.message for e in events if e.kind == "warn" and "request log" in e.message]
    assert warned and "no request log entry of" in warned[0] and "judging on Cloud Monitoring" in warned[0]
    assert outcome.steps[0].ended - outcome.steps[0].started > 3 * 60  # minutes behind: the metric delay


def test_source_monitoring_is_kept(repo_config, emulator, clients_for):
    config = repo_config.model_copy(update={"analysis": repo_config.analysis.model_copy(update={"source": "monitoring"})})
    emu = emulator(scenario="regression")
    outcome, events = run(config, emu, clients_for(emu))
    assert outcome.outcome == "rolled_back" and outcome.steps[0].source == "monitoring"
    assert not [e for e in events if e.kind == "warn" and "request log" in e.message]


def test_a_step_resumed_after_its_entries_were_forgotten_reads_them_back(repo_config, emulator, clients_for):
    """The engine's need of a step's entries lapses while nobody reads (a long pause) and the screens'
    pruning forgets them; the next read of that step reads them back rather than judge a gap as no traffic."""
    emu = emulator()
    clients = clients_for(emu)
    target = production(repo_config)
    source = sample_source(repo_config, target, clients, emu.clock, Metrics(clients))
    serving = CloudRun(clients).get_service(target.project, target.region, target.service).served_split()
    stable = next(rev for rev, pct in serving.items() if pct == 100)
    step = StepView(candidate="no-candidate-yet", stable=stable, started=emu.clock.now(), slow_ms=None)
    emu.clock.advance(120)
    before = source.read(step, emu.clock.now())
    counted = sum(s.stable.requests for s in before.samples)
    assert counted > 0
    emu.clock.advance(NEED_LAPSE_SECONDS + 100)  # paused: the engine renews nothing
    log = source.feed.log
    log.prune(emu.clock.now())  # a screen's read meanwhile keeps only its minutes
    assert log.entries(target.service, step.started, step.started + 120) == []
    after = source.read(step, emu.clock.now())
    assert len(log.entries(target.service, step.started, step.started + 120)) >= counted
    assert sum(s.stable.requests for s in after.samples) > counted
    assert after.samples[0].start <= step.started + 10  # judged from the step's start, not from the gap's end


def test_a_monitoring_window_in_which_the_candidate_started_containers_leaves_its_latency_out(repo_config, emulator,
                                                                                           clients_for, monkeypatch):
    """The Monitoring source reads container starts per window beside the counts and hands the judge
    those windows without the candidate's latency (autoscaling's cold starts look like a regression)."""
    from console.sources import MonitoringSource

    emu = emulator()
    clients = clients_for(emu)
    target = production(repo_config)
    serving = CloudRun(clients).get_service(target.project, target.region, target.service).served_split()
    stable = next(rev for rev, pct in serving.items() if pct == 100)
    asked = []

    def starts(self, project, region, start, end, *, service=None, period=60):
        asked.append((start, end))
        return {(service, stable): {end: 2}}  # "the candidate" here is stable: it serves the traffic

    monkeypatch.setattr(Metrics, "container_starts", starts)
    step = StepView(candidate=stable, stable=stable, started=emu.clock.now(), slow_ms=500.0)
    emu.clock.advance(600)
    reading = MonitoringSource(repo_config, target, Metrics(clients)).read(step, emu.clock.now())
    assert asked and len(reading.samples) >= 2
    *earlier, last = reading.samples
    assert last.candidate.warm_requests == 0 and last.candidate.slow == 0 and last.candidate.requests > 0
    assert all(s.candidate.warm_requests is None for s in earlier)
