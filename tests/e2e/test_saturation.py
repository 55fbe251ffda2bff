"""Saturation end to end (issue 14): `vinconsole emulator` in one process, the console in others, on
a shared scaled clock — status figures, an OOM-killed candidate rolled back, cold starts reported."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import AUTO, backend, emulator_process, strict_config  # noqa: F401 (fixture)

SATURATION_KEYS = ("cpu_p95", "memory_p95", "startups_per_minute", "startup_p95_ms", "cold_start_share",
                   "oom_kills", "min_instances", "max_instances")


def test_status_json_has_saturation_for_every_serving_revision(emulator_process):
    emu = emulator_process()
    status = emu.status()
    for service in status["services"]:
        for revision in service["revisions"]:
            assert all(key in revision for key in SATURATION_KEYS), revision
            if revision["traffic_percent"] == 0:
                assert revision["cold_start_share"] is None  # no requests: no share, never 0
                continue
            for key in ("cpu_p95", "memory_p95", "startups_per_minute", "cold_start_share"):
                assert revision[key] is not None, (service["service"], key, revision)
            assert 0 < revision["cpu_p95"] < 1 and 0 < revision["memory_p95"] < 1
            assert 0 <= revision["cold_start_share"] < 0.05
            assert revision["oom_kills"] == 0 and revision["min_instances"] == 0


def test_an_oom_killed_candidate_is_rolled_back_with_the_log_line(emulator_process, tmp_path):
    emu = emulator_process("oom", strict_config(tmp_path))
    result = emu.vinconsole(*AUTO, "--report", str(tmp_path / "r.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["outcome"] == "rolled_back"
    reasons = " ".join(report["steps"][-1]["reasons"])
    assert "out-of-memory kills" in reasons and "Memory limit of 512 MiB exceeded with" in reasons, reasons
    assert report["steps"][-1]["metrics"]["saturation"]["oom_kills"]["stable"] == 0
    after = backend(emu.status())
    by_name = {r["name"]: r for r in after["revisions"]}
    assert by_name[report["stable"]]["traffic_percent"] == 100
    assert by_name[report["candidate"]]["oom_kills"] >= 1


@pytest.mark.parametrize("source", ["monitoring", "auto"])
def test_coldstart_verdicts_report_the_candidates_share_beside_stables(emulator_process, tmp_path, source):
    """On Monitoring's pace the cold-start share comes from Monitoring's complete windows of the step;
    on the request log's (a step decided in about a minute, before Monitoring's first window) from
    Cloud Run's system log lines for container starts over the requests the judge counted."""
    config = strict_config(tmp_path)
    text = config.read_text()
    assert 'source = "auto"' in text
    config.write_text(text.replace('source = "auto"', f'source = "{source}"'))
    emu = emulator_process("coldstart", config)
    result = emu.vinconsole(*AUTO, "--report", str(tmp_path / "r.json"))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    judged = [s for s in report["steps"] if "saturation" in s["metrics"]]
    assert judged, report["steps"]
    assert {s["source"] for s in judged} == {"monitoring" if source == "monitoring" else "logs"}
    for step in judged:
        line = next(r for r in step["reasons"] if r.startswith("cold starts: "))
        assert " vs stable " in line and "% of requests" in line
        figures = step["metrics"]["saturation"]
        assert figures["candidate"]["cold_start_share"] > 5 * figures["stable"]["cold_start_share"]
