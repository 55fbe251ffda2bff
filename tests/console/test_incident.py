"""The incident view's data against the emulator's `incident` scenario (real Google clients), and its
pure decisions on hand-made windows."""

from __future__ import annotations

import pytest

from console.distribution import Histogram
from console.gcp.monitoring import WindowStats
from console.gcp.run import CloudRun
from console.history import read_history
from console.incident import (
    IncidentReader,
    Marker,
    alignment_for,
    last_known_good,
    rollback_to_last_good,
    since_when,
)
from console.slo import ALERT_RULES, SloSample

PROD = ("vinsight-prod", "us-central1")
BACKEND = "vinsight-backend"


@pytest.fixture
def incident(repo_config, emulator, clients_for, manual_clock):
    emu = emulator(scenario="incident", history=True)
    clients = clients_for(emu)
    return emu, clients, IncidentReader(repo_config, clients, manual_clock)


def test_production_backend_ranks_first_pages_and_names_the_last_good_revision(repo_config, incident, manual_clock):
    emu, clients, reader = incident
    now = manual_clock.now()
    rows = reader.overview(repo_config.targets())
    assert len(rows) == 4
    first = rows[0]
    assert first.key == "production/vinsight-backend"
    assert first.level == "page" and first.burn("1h") >= 14.4 and first.burn("5m") >= 14.4
    assert all(r.level == "ok" for r in rows[1:])
    assert first.error_rate > 0.04 and first.baseline_error_rate < 0.01  # ≈ 6 % against ≈ 0.4 %
    assert first.p95_ms is not None and first.p95_ms < first.targets.latency_ms
    assert now - 25 * 60 <= first.since <= now - 15 * 60  # the bad revision took 100 % 20 minutes ago
    svc = emu.fleet.find(*PROD, BACKEND)
    bad = max(svc.revisions.values(), key=lambda r: r.create_time).name
    previous = sorted(svc.revisions.values(), key=lambda r: r.create_time)[-2].name
    assert first.serving == {bad: 100}

    target = repo_config.targets("production", BACKEND)[0]
    detail = reader.detail(target, "1h", first)
    assert detail.api_calls == 5  # independent of the number of revisions
    assert detail.last_good.revision == previous and detail.last_good.replaced_by == bad
    assert "served 100 %" in detail.last_good.reason and bad in detail.last_good.reason
    groups = detail.errors
    assert len(groups) >= 3 and all(g.count > 10 and set(g.revisions) == {bad} for g in groups[:3])
    assert all("Traceback" in g.example.text for g in groups[:3])
    # the release marker lines up with the errors: the operator's promote at the start of the crossing
    promote = next(m for m in detail.timeline.markers if m.kind == "promote")
    assert promote.actor.startswith("operator:") and promote.after == {bad: 100}
    assert abs(promote.at - first.since) <= 2 * 60
    assert any(m.kind == "traffic" and m.after.get(bad) == 10 for m in detail.timeline.markers)
    ends = {p.end for points in detail.timeline.revisions.values() for p in points}
    assert 50 <= len(ends) <= 60 and detail.timeline.period == 60
    bad_points = detail.timeline.revisions[bad]
    assert bad_points[-1].error_rate > 0.04 and bad_points[-1].p95_ms is not None
    six = reader.detail(target, "6h", first)
    assert six.timeline.period == 180 and len({p.end for pts in six.timeline.revisions.values() for p in pts}) <= 120


def test_rollback_to_last_good_moves_traffic_and_the_history_has_its_time_to_restore(repo_config, incident,
                                                                                     manual_clock):
    emu, clients, reader = incident
    target = repo_config.targets("production", BACKEND)[0]
    row = reader.overview([target])[0]
    detail = reader.detail(target, "1h", row)
    outcome = rollback_to_last_good(repo_config, target, clients, manual_clock, detail)
    assert outcome.outcome == "rolled_back", outcome.message
    assert CloudRun(clients).get_service(*PROD, BACKEND).served_split() == {detail.last_good.revision: 100}
    history = read_history(repo_config, clients, [target], manual_clock.now() - 30 * 86400, manual_clock.now() + 1)
    restore = history.rollouts[-1]
    assert restore.kind == "rollback" and restore.stable == detail.last_good.revision
    assert restore.candidate == detail.last_good.replaced_by
    expected = (restore.ended - row.since) / 60
    assert restore.time_to_restore_minutes == pytest.approx(expected) and 15 <= expected <= 25
    release = history.rollouts[-2]
    assert release.outcome == "promoted" and release.reverted is restore and release.failed
    figures = history.services[target.key]
    assert figures.time_to_restore_minutes_median is not None and figures.deployments > 10


# --- pure decisions ------------------------------------------------------------------------------


def test_alignment_keeps_60_to_120_points():
    assert [alignment_for(s) for s in (3600, 21600, 86400)] == [60, 180, 900]
    assert all(60 <= s / alignment_for(s) <= 120 for s in (3600, 21600, 86400))


def minute(end, requests, errors):
    return SloSample(end - 60, end, requests, errors, 0)


def minutes(rates, requests=1000):
    """One 60 s sample per rate (errors per 1000 requests), the first ending at 60."""
    return [minute(60 * (i + 1), requests, b) for i, b in enumerate(rates)]


def test_since_when_walks_back_to_the_first_crossing_window():
    budget = 0.001  # 99.9 %
    # oldest → newest: 0.4 % for 10 minutes, 6 % for 5, a one-minute dip to 0.5 %, 6 % for 4
    samples = minutes([4] * 10 + [60] * 5 + [5] + [60] * 4)
    # crossing = 14.4× budget = 1.44 %: windows 11..20, the dip inside the run; window 11 starts at 600
    assert since_when(samples, budget, 14.4) == 600
    assert since_when(samples[:10], budget, 14.4) is None  # not crossing now


def test_since_when_still_answers_while_the_short_window_burns_after_recovery():
    budget = 0.001
    # 0.4 % for 30 minutes, 6 % for 20 (from minute 30), then 12 minutes back at 0.4 %
    samples = minutes([4] * 30 + [60] * 20 + [4] * 12)
    assert since_when(samples, budget, 6.0) is None  # the newest minutes alone: recovered
    # the 6 h / 30 min page still fires (its 30 min window holds the errors): they began at minute 30
    assert since_when(samples, budget, 6.0, recent_seconds=1800) == 1800


def test_since_when_ignores_a_lone_noisy_minute_and_an_older_resolved_episode():
    budget = 0.001
    episode = [4] * 30 + [60] * 20 + [4] * 12
    # one noisy minute (0.9 %, over 6×) after the recovery does not become the start
    noisy = minutes(episode + [9] + [4] * 3)
    assert since_when(noisy, budget, 6.0, recent_seconds=1800) == 1800
    # three hours later a new episode: it starts where it starts, not at the old one
    again = minutes(episode + [4] * 180 + [60] * 4)
    assert since_when(again, budget, 14.4, recent_seconds=300) == 60 * (62 + 180)


def stats(end, requests, errors):
    return WindowStats(end - 60, end, {"2xx": requests - errors, "5xx": errors}, Histogram((100.0,), (requests, 0)))


def test_last_known_good_is_what_served_before_the_errors():
    windows = {("svc", "old"): {}, ("svc", "new"): {}}
    for i in range(60):  # minutes 0..59: old serves everything at 0.4 %
        windows[("svc", "old")][60.0 * (i + 1)] = stats(60.0 * (i + 1), 1000, 4)
    for i in range(60, 80):  # minutes 60..79: new serves everything at 6 %
        windows[("svc", "new")][60.0 * (i + 1)] = stats(60.0 * (i + 1), 1000, 60)
    markers = [Marker(3600.0, "promote", "operator:bob@x", "promoted new", "new", {"old": 100}, {"new": 100})]
    good = last_known_good(windows, "svc", 3600.0, 0.001, ALERT_RULES[0].burn_rate, markers, {"old": True, "new": True})
    assert good.revision == "old" and good.replaced_by == "new" and good.served_until == 3600.0
    assert good.error_rate_before == pytest.approx(0.004) and good.share_before == 100.0
    assert "old served 100 % until 01:00 UTC when new took traffic; 5xx then 0.4 %" == good.reason
    # a revision that is not ready is no rollback target
    assert last_known_good(windows, "svc", 3600.0, 0.001, 14.4, markers, {"old": False}).revision is None
    # the same revision before and after: not a release problem, nothing to roll back to
    same = {("svc", "old"): {**windows[("svc", "old")], **{k: stats(k, 1000, 60) for k in windows[("svc", "new")]}}}
    assert last_known_good(same, "svc", 3600.0, 0.001, 14.4).revision is None
    assert last_known_good(windows, "svc", None, 0.001, 14.4) is None


def test_log_reads_are_reused_for_a_minute_and_a_quota_pause_keeps_them(repo_config, incident, manual_clock):
    emu, clients, reader = incident
    target = repo_config.targets("production", BACKEND)[0]
    row = next(r for r in reader.overview([target]) if r.key == target.key)
    first = reader.detail(target, "1h", row)
    reads = len(emu.log_quotas.reads["vinsight-prod"])
    manual_clock.advance(30)
    again = reader.detail(target, "1h", row)
    assert len(emu.log_quotas.reads["vinsight-prod"]) == reads  # no log read: the tail fills in
    assert again.logs_read_at == first.logs_read_at and again.api_calls == first.api_calls - 2
    assert [g.signature for g in again.errors] == [g.signature for g in first.errors]
    manual_clock.advance(31)
    emu.inject_fault("ListLogEntries", "RESOURCE_EXHAUSTED")
    paused = reader.detail(target, "1h", row)
    assert paused.logs_read_at == first.logs_read_at and paused.errors  # the last read is kept ...
    assert "RESOURCE_EXHAUSTED" in paused.logs_error and "paused until" in paused.logs_error  # ... and it says why


def test_plain_stderr_traces_are_grouped_through_the_real_api(repo_config, emulator, clients_for, manual_clock):
    from console.gcp.logs import Logs

    emu = emulator()
    clients = clients_for(emu)
    logs = Logs(clients)
    reader = IncidentReader(repo_config, clients, manual_clock)
    target = repo_config.targets("staging", BACKEND)[0]
    trace = ["Traceback (most recent call last):", '  File "/app/vinsight/api.py", line 142, in stock',
             "    return render_quote(quote)", "KeyError: 'currency'"]
    svc = emu.fleet.find("vinsight-staging", "us-central1", BACKEND)
    revision = svc.latest_ready
    now = manual_clock.now()
    for n in range(3):
        for k, line in enumerate(trace + ["INFO: GET /api/stock/AAPL 500"]):
            logs.write("vinsight-staging", "run.googleapis.com/stderr", {}, severity="DEFAULT",
                       resource_labels={"location": "us-central1", "service_name": BACKEND, "revision_name": revision},
                       labels={"instanceId": f"i-{n}"}, timestamp=now - 300 + 60 * n + 0.001 * k, text=line)
    row = next(r for r in reader.overview([target]) if r.key == target.key)
    detail = reader.detail(target, "1h", row)
    mine = [g for g in detail.errors if g.signature == "KeyError: '<*>'"]
    assert len(mine) == 1 and mine[0].count == 3 and mine[0].example.text.count("\n") == 3
    assert not any(g.signature.startswith("INFO") for g in detail.errors)
