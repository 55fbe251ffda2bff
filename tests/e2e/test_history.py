"""End to end: `vinconsole emulator` (which seeds 30 days of audit history) in one process,
`vinconsole history --json` in another."""

from __future__ import annotations

import json
from datetime import datetime

from tests.e2e.test_cli import emulator_process  # noqa: F401 - the fixture

KEYS = {f"{env}/{svc}" for env in ("staging", "production") for svc in ("vinsight-backend", "vinsight-frontend")}
FIGURES = ("deployments_per_week", "lead_time_minutes_median", "change_failure_rate", "time_to_restore_minutes_median")


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_history_json_has_thirty_days_of_rollouts_and_dora_per_service(emulator_process):  # noqa: F811
    emu = emulator_process("healthy")
    result = emu.vinconsole("history", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rollouts = data["rollouts"]
    assert ts(data["until"]) - ts(data["since"]) >= 30 * 86400 - 60
    started = [ts(r["started"]) for r in rollouts]
    # Weekdays over the whole 30 days: less a weekend at either end, whatever today's weekday is
    # (24.5 days at worst over every start day and hour of a month, seed 0).
    assert max(started) - min(started) >= 22 * 86400
    assert min(started) <= ts(data["since"]) + 4 * 86400
    assert {f"{r['env']}/{r['service']}" for r in rollouts} == KEYS
    for r in rollouts:
        assert {"env", "service", "candidate", "stable", "driver", "started", "ended", "outcome", "steps"} <= set(r)
    outcomes = {r["outcome"] for r in rollouts}
    assert {"promoted", "rolled_back"} <= outcomes
    assert {r["driver_kind"] for r in rollouts} == {"ci", "operator"}
    assert set(data["dora"]["services"]) == KEYS
    for key, figures in data["dora"]["services"].items():
        assert figures["deployments_per_week"] >= 2, key
        assert 3 <= figures["lead_time_minutes_median"] <= 25, key
        assert 0 < figures["change_failure_rate"] < 0.4, key
        assert set(FIGURES) <= set(figures)
    assert all(data["dora"]["overall"][f] is not None for f in FIGURES)
    # today's stable revision of each service came in with its most recent promoted rollout
    status = emu.status()
    for service in status["services"]:
        serving = next(r["name"] for r in service["revisions"] if r["traffic_percent"] == 100)
        mine = [r for r in rollouts if (r["env"], r["service"]) == (service["env"], service["service"])
                and r["outcome"] == "promoted"]
        assert mine[-1]["candidate"] == serving
    narrowed = emu.vinconsole("history", "--env", "staging", "--service", "vinsight-backend", "--since", "7d", "--json")
    assert narrowed.returncode == 0, narrowed.stderr
    small = json.loads(narrowed.stdout)
    assert set(small["dora"]["services"]) == {"staging/vinsight-backend"}
    assert all(ts(r["started"]) >= ts(small["since"]) for r in small["rollouts"])
    table = emu.vinconsole("history", "--service", "vinsight-frontend")
    assert table.returncode == 0 and "DORA" in table.stdout and "lead time" in table.stdout
    bad = emu.vinconsole("history", "--since", "a week")
    assert bad.returncode == 2 and "--since" in bad.stderr
