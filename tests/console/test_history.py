"""Rollouts and DORA figures from a hand-made audit log of known rollouts (numbers worked out by hand)."""

import itertools

import pytest

from console.gcp.logs import LogEntry
from console.history import build_history, driver_parts, parse_since, rebuild

T0 = 1_790_000_000.0
DAY = 86400.0
SINCE, UNTIL = T0, T0 + 14 * DAY  # two weeks
CI = "ci:github-actions run {} (alice)"
BOB = "operator:bob@laptop"
_ids = itertools.count(1)


def audit(t, kind, env, service, actor, **payload):
    return LogEntry(
        timestamp=t, severity="WARNING" if payload.get("decision") == "fail" else "NOTICE",
        log_name="projects/p/logs/vinconsole-audit", text=kind,
        payload={"kind": kind, "env": env, "service": service, "actor": actor, "message": kind, **payload},
        insert_id=f"{next(_ids):08d}",
    )


def rollout(env, service, actor, rid, cand, stable, created, steps, end, *, end_at, why=None, errors_started=None,
            smoke_ok=True):
    """Entries of one rollout started 60 s after `created`: steps = [(percent, at, verdict or None)]."""
    base = dict(rollout=rid, candidate=cand, stable=stable, candidate_created=created, driver=f"{actor} pid 7")
    out = [
        audit(created + 55, "lease", env, service, actor, before={stable: 100.0}, after={stable: 100.0}),
        audit(created + 60, "start", env, service, actor, phase="smoke", step=1.0, percent=0.0, **base),
        audit(created + 70, "smoke", env, service, actor, ok=smoke_ok, results=[{"name": "health", "ok": smoke_ok}]),
    ]
    for percent, at, verdict in steps:
        out.append(audit(at, "traffic", env, service, actor, phase="baking", percent=float(percent), **base))
        if verdict:
            out.append(audit(at + 300, "verdict", env, service, actor, rollout=rid, decision=verdict, percent=float(percent),
                             reasons=[f"{verdict} at {percent} %"]))
    if end == "promote":
        out.append(audit(end_at, "promote", env, service, actor, phase="promoted", percent=100.0,
                         before={cand: 100.0}, after={cand: 100.0}, **base))
    elif end == "rollback":
        extra = {"errors_started": errors_started} if errors_started is not None else {}
        out.append(audit(end_at, "rollback", env, service, actor, phase="rolled_back", why=why,
                         reasons=[f"{why} failed"], before={stable: 90.0, cand: 10.0}, after={stable: 100.0},
                         **base, **extra))
    return out


def hand_made_log():
    s, p = ("staging", "vinsight-backend"), ("production", "vinsight-backend")
    log = []
    # -- staging/vinsight-backend
    # before the period: must not count
    c = T0 - DAY
    log += rollout(*s, CI.format(1), "r-old", "b-09", "b-08", c, [(10, c + 100, "pass")], "promote", end_at=c + 900)
    # R1: CI, promoted 840 s after the revision was created → lead 14 min
    c = T0 + 1000
    log += rollout(*s, CI.format(2), "r-1", "b-10", "b-09", c,
                   [(10, c + 100, "pass"), (50, c + 450, "pass"), (100, c + 800, None)], "promote", end_at=c + 840)
    # R2: operator, analysis fails at 10 % (errors from the step at c+100), rolled back at c+420 → TTR 320 s
    c = T0 + DAY
    log += rollout(*s, BOB, "r-2", "b-11", "b-10", c, [(10, c + 100, "fail")], "rollback", end_at=c + 420,
                   why="analysis", errors_started=c + 100)
    # R3: CI, lead 8 min
    c = T0 + 2 * DAY
    log += rollout(*s, CI.format(3), "r-3", "b-12", "b-10", c, [(10, c + 100, "pass"), (100, c + 400, None)],
                   "promote", end_at=c + 480)
    # R4: smoke fails before any traffic: rolled back, no time to restore (no user saw it)
    c = T0 + 3 * DAY
    log += rollout(*s, CI.format(4), "r-4", "b-13", "b-12", c, [], "rollback", end_at=c + 90, why="smoke",
                   smoke_ok=False)
    # R5: interrupted: aborted, neither a success nor a failure
    c = T0 + 4 * DAY
    log += rollout(*s, BOB, "r-5", "b-14", "b-12", c, [(10, c + 100, None)], "rollback", end_at=c + 200,
                   why="interrupted", errors_started=c + 100)
    # R7: CI, lead 12 min
    c = T0 + 6 * DAY
    log += rollout(*s, CI.format(7), "r-7", "b-15", "b-12", c, [(10, c + 100, "pass")], "promote", end_at=c + 720)
    # R6: still running at the end of the period
    c = T0 + 13 * DAY
    log += rollout(*s, CI.format(6), "r-6", "b-16", "b-15", c, [(10, c + 100, None)], None, end_at=None)
    # -- production/vinsight-backend
    # P1: CI, lead 10 min
    c = T0 + 4 * DAY
    log += rollout(*p, CI.format(11), "r-p1", "pb-20", "pb-19", c, [(10, c + 100, "pass")], "promote", end_at=c + 600)
    # P2: operator, lead 20 min; 30 min later an operator rolls it back (no rollout id), errors began
    # 10 min after the promote → time to restore 20 min
    c = T0 + 5 * DAY
    log += rollout(*p, BOB, "r-p2", "pb-21", "pb-20", c, [(10, c + 100, "pass")], "promote", end_at=c + 1200)
    log.append(audit(c + 3000, "rollback", *p, "operator:carol@pager", why="operator", reasons=["5xx 6 %"],
                     before={"pb-21": 100.0}, after={"pb-20": 100.0}, rolled_back_from="pb-21",
                     errors_started=c + 1800))
    # P3: an operator rolls back a revision that no rollout here brought in (deployed by hand)
    log.append(audit(T0 + 8 * DAY, "rollback", *p, BOB, why="operator", reasons=["hand deploy broke login"],
                     before={"pb-x": 100.0}, after={"pb-20": 100.0}, rolled_back_from="pb-x"))
    # P4: CI, lead 6 min
    c = T0 + 9 * DAY
    log += rollout(*p, CI.format(14), "r-p4", "pb-22", "pb-20", c, [(10, c + 100, "pass")], "promote", end_at=c + 360)
    return log


KEYS = ["staging/vinsight-backend", "production/vinsight-backend", "production/vinsight-frontend"]


def test_dora_figures_per_service_and_overall():
    history = build_history(hand_made_log(), SINCE, UNTIL, KEYS)
    staging = history.services["staging/vinsight-backend"]
    # promoted R1, R3, R7 over 2 weeks; rolled back R2, R4; R5 aborted, R6 running: not changes
    assert staging.deployments == 3 and staging.deployments_per_week == pytest.approx(1.5)
    assert staging.lead_time_minutes_median == pytest.approx(12.0)  # median(14, 8, 12)
    assert staging.change_failure_rate == pytest.approx(2 / 5)
    assert staging.time_to_restore_minutes_median == pytest.approx(320 / 60)  # R2 only
    prod = history.services["production/vinsight-backend"]
    assert prod.deployments_per_week == pytest.approx(1.5)  # P1, P2, P4
    assert prod.lead_time_minutes_median == pytest.approx(10.0)  # median(10, 20, 6)
    # failed: P2 (rolled back later) and the hand deploy P3; changes: P1, P2, P4 and P3
    assert (prod.failures, prod.changes) == (2, 4) and prod.change_failure_rate == pytest.approx(0.5)
    assert prod.time_to_restore_minutes_median == pytest.approx(20.0)
    overall = history.overall
    assert overall.deployments_per_week == pytest.approx(3.0)
    assert overall.lead_time_minutes_median == pytest.approx(11.0)  # median(6, 8, 10, 12, 14, 20)
    assert overall.change_failure_rate == pytest.approx(4 / 9)
    assert overall.time_to_restore_minutes_median == pytest.approx((320 / 60 + 20) / 2)
    assert overall.meets() == {"lead_time_minutes_median": False, "change_failure_rate": False,
                               "time_to_restore_minutes_median": True}
    quiet = history.services["production/vinsight-frontend"]
    assert quiet.deployments_per_week == 0.0
    assert (quiet.lead_time_minutes_median, quiet.change_failure_rate, quiet.time_to_restore_minutes_median) == (
        None, None, None)


def test_rollouts_in_json_with_steps_drivers_and_outcomes():
    data = build_history(hand_made_log(), SINCE, UNTIL, KEYS).to_json()
    rollouts = data["rollouts"]
    assert all(set(r) >= {"env", "service", "candidate", "stable", "driver", "started", "ended", "outcome", "steps"}
               for r in rollouts)
    by_candidate = {r["candidate"]: r for r in rollouts if r["kind"] == "rollout"}
    assert "b-09" not in by_candidate  # started before the period
    outcomes = {c: r["outcome"] for c, r in by_candidate.items()}
    assert outcomes == {"b-10": "promoted", "b-11": "rolled_back", "b-12": "promoted", "b-13": "rolled_back",
                        "b-14": "aborted", "b-15": "promoted", "b-16": "in_progress", "pb-20": "promoted",
                        "pb-21": "promoted", "pb-22": "promoted"}
    r1 = by_candidate["b-10"]
    assert r1["driver"] == CI.format(2) and (r1["driver_kind"], r1["driver_name"]) == ("ci", "alice")
    assert [(s["percent"], s["verdict"]) for s in r1["steps"]] == [(10, "pass"), (50, "pass"), (100, None)]
    assert r1["steps"][0]["reasons"] == ["pass at 10 %"] and r1["lead_time_minutes"] == 14.0
    assert r1["smoke"][0]["ok"] is True and r1["ended"] is not None
    r2 = by_candidate["b-11"]
    assert r2["why"] == "analysis" and r2["time_to_restore_minutes"] == pytest.approx(5.33)
    assert r2["driver_kind"] == "operator" and r2["driver_name"] == "bob@laptop"
    assert by_candidate["b-16"]["ended"] is None
    assert by_candidate["pb-21"]["rolled_back_later"]["time_to_restore_minutes"] == 20.0
    restores = [r for r in rollouts if r["kind"] == "rollback"]
    assert [(r["candidate"], r["stable"], r["outcome"]) for r in restores] == [
        ("pb-21", "pb-20", "rolled_back"), ("pb-x", "pb-20", "rolled_back")]
    assert set(data["dora"]["services"]) == set(KEYS)
    figures = data["dora"]["services"]["staging/vinsight-backend"]
    assert set(figures) >= {"deployments_per_week", "lead_time_minutes_median", "change_failure_rate",
                            "time_to_restore_minutes_median"}
    assert data["dora"]["targets"] == {"lead_time_minutes_median": 10.0, "change_failure_rate": 0.05,
                                       "time_to_restore_minutes_median": 15.0}


def test_a_rollout_whose_start_is_before_the_entries_read_is_rebuilt_from_its_later_entries():
    log = [e for e in hand_made_log() if not (e.payload.get("rollout") == "r-1" and e.payload["kind"] in ("lease", "start"))]
    r1 = next(r for r in rebuild(log) if r.id == "r-1")
    assert r1.outcome == "promoted" and r1.candidate == "b-10" and r1.lead_time_minutes == pytest.approx(14.0)


def test_driver_parts_and_since():
    assert driver_parts("ci:github-actions run 123 (alice) pid 42") == ("ci", "alice")
    assert driver_parts("operator:bob@laptop") == ("operator", "bob@laptop")
    assert driver_parts("ci:runner@host-7") == ("ci", "runner@host-7")
    assert parse_since("30d") == 30 * DAY and parse_since("12h") == 12 * 3600 and parse_since("90m") == 5400
    with pytest.raises(ValueError):
        parse_since("30 days")


def test_history_view_leaves_out_what_a_narrow_terminal_cannot_show_and_says_so():
    import io

    from rich.console import Console

    from console.history import history_view

    history = build_history(hand_made_log(), SINCE, UNTIL, KEYS)

    def text(width: int | None) -> str:
        console = Console(width=width or 400, record=True, file=io.StringIO())
        console.print(history_view(history, "history", width))
        return console.export_text()

    full = text(None)  # a pipe: every column, whole names
    squeezed = lambda out: out.count("…") - out.count("… in progress")  # noqa: E731 - cells cut to fit
    assert "stable" in full and "driver" in full and "terminal too narrow" not in full and squeezed(full) == 0
    narrow = text(100)
    assert all(len(line) <= 100 for line in narrow.splitlines())
    assert squeezed(narrow) == 0 and "production/vinsight-backend" in narrow
    assert "terminal too narrow: revision prefixes" in " ".join(narrow.split())


def test_a_resent_audit_write_counts_once_and_90_days_say_what_the_log_keeps(repo_config, emulator, clients_for,
                                                                               manual_clock):
    from console.audit import Audit
    from console.gcp.logs import Logs
    from console.history import read_audit, read_history

    emu = emulator()
    clients = clients_for(emu)
    audit = Audit(Logs(clients), "vinsight-staging", "us-central1", "vinsight-backend", "staging", "operator:bob")
    at = manual_clock.now() - 60
    for _ in range(2):  # the first write's answer was lost: the same entry is sent again
        audit.record("rollback", at, revision="vinsight-backend-00002-abc", before={"a": 100}, after={"b": 100})
    audit.record("rollback", at + 1, revision="vinsight-backend-00002-abc", before={"a": 100}, after={"b": 100})
    targets = repo_config.targets("staging", "vinsight-backend")
    now = manual_clock.now()
    entries = read_audit(repo_config, clients, targets, now - 3600, now)
    assert len(entries) == 2 and len({e.insert_id for e in entries}) == 2
    assert all(e.insert_id.startswith("vc-") for e in entries)
    assert read_history(repo_config, clients, targets, now - 30 * DAY, now).notes == []
    [note] = read_history(repo_config, clients, targets, now - 90 * DAY, now).notes
    assert "_Default log bucket" in note and "keeps 30 days" in note and "30 of 90 days" in note
