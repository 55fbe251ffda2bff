"""End to end on the request log: `vinconsole emulator` in one process (its request log on or off),
`vinconsole --auto-promote` in another, on a shared scaled clock, with the shipped config.

A regression is rolled back within a simulated minute of the candidate's first traffic, judged on
the log; a healthy production rollout is promoted within six simulated minutes; with the request
log excluded the same outcomes come from Cloud Monitoring, and the output says why.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.test_cli import strict_config

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = ("--auto-promote", "--env", "production", "--service", "vinsight-backend")
#: Where the shared clock starts: a fixed instant, so that what the emulator simulates (its traffic
#: follows the time of day, ±20 %, and its draws the clock) does not depend on when the tests run;
#: 09:00 UTC is the daily mean.
SIMULATED_START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC).timestamp()


def epoch_starting_at(start: float, scale: int) -> float:
    """The VINCONSOLE_TIME_EPOCH at which the scaled clock (epoch + scale × (real − epoch)) reads
    ``start`` now."""
    real = time.time()
    return (scale * real - start) / (scale - 1)


class Emulator:
    def __init__(self, scenario: str, config: Path, scale: int, request_logs: str):
        self.env = {
            **os.environ,
            "VINCONSOLE_TIME_SCALE": str(scale),
            "VINCONSOLE_TIME_EPOCH": repr(epoch_starting_at(SIMULATED_START, scale)),
            "GRPC_VERBOSITY": "ERROR",
            "VINCONSOLE_CONFIG": str(config),
        }
        self.env.pop("GITHUB_STEP_SUMMARY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console", "emulator", "--scenario", scenario, "--request-logs", request_logs],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=REPO,
        )
        line = ""
        for _ in range(20):
            line = self.proc.stdout.readline()
            match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
            if match or not line:
                break
        if not match:
            self.proc.kill()
            raise AssertionError(f"the emulator did not start: {line}{self.proc.stderr.read()}")
        self.banner = line
        self.env["VINCONSOLE_EMULATOR_HOST"] = match.group(1)

    def auto_promote(self, report: Path) -> tuple[subprocess.CompletedProcess, dict]:
        result = subprocess.run([sys.executable, "-m", "console", *PRODUCTION, "--report", str(report)],
                                capture_output=True, text=True, env=self.env, cwd=REPO, timeout=240)
        return result, json.loads(report.read_text())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def emulator_with(tmp_path):
    started: list[Emulator] = []

    def start(scenario: str, *, scale: int, request_logs: str = "on", shipped: bool = False) -> Emulator:
        config = REPO / "config.toml" if shipped else strict_config(tmp_path)
        emu = Emulator(scenario, config, scale, request_logs)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def seconds(step: dict) -> float:
    return (datetime.fromisoformat(step["ended"]) - datetime.fromisoformat(step["started"])).total_seconds()


def test_a_regression_is_rolled_back_within_a_minute_on_the_request_log(emulator_with, tmp_path):
    # the shipped config, as a user runs it (α = 0.05: a regression needs ln 40 of 5xx evidence; the strict
    # α = 0.002 the healthy tests use needs ln 1000, about two more 10 s buckets);
    # at ×2 a slow second of a busy machine is 2 simulated ones
    emu = emulator_with("regression", scale=2, shipped=True)
    result, report = emu.auto_promote(tmp_path / "r.json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["outcome"] == "rolled_back"
    first = report["steps"][0]
    assert first["source"] == "logs" and first["verdict"] == "fail"
    # Issue 13: ≤ 60 s. At SIMULATED_START, ×2: 39–50 s (three or four 10 s buckets of evidence at the
    # log's 5xx boundary of 400, and the watermark's ~11 s). The same instant of 16 other days (other
    # draws): 40–82 s, median 51 s — three in 16, with the candidate at 5.6–6.3 % 5xx, took over a minute
    assert seconds(first) <= 60, first
    assert "5xx" in " ".join(first["reasons"])
    assert "from the request log" in result.stdout and "judging on Cloud Monitoring" not in result.stdout


def test_a_healthy_production_rollout_is_promoted_within_six_minutes(emulator_with, tmp_path):
    emu = emulator_with("healthy", scale=30)
    result, report = emu.auto_promote(tmp_path / "r.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [s["percent"] for s in report["steps"]] == [10, 50, 100]
    assert [s["source"] for s in report["steps"][:2]] == ["logs", "logs"]
    start = datetime.fromisoformat(report["steps"][0]["started"])
    end = datetime.fromisoformat(report["steps"][-1]["ended"])
    assert (end - start).total_seconds() <= 6 * 60, report["steps"]


@pytest.mark.parametrize(("scenario", "code", "outcome"), [("regression", 1, "rolled_back"), ("healthy", 0, "promoted")])
def test_without_request_logs_the_same_outcomes_come_from_monitoring(emulator_with, tmp_path, scenario, code, outcome):
    emu = emulator_with(scenario, scale=100, request_logs="off")
    assert "request logs off" in emu.banner
    result, report = emu.auto_promote(tmp_path / "r.json")
    assert result.returncode == code, result.stdout + result.stderr
    assert report["outcome"] == outcome
    assert report["steps"][0]["source"] == "monitoring"
    assert "judging on Cloud Monitoring, not the request log: no request log entry of" in result.stdout


def test_staging_then_production_within_ten_minutes(emulator_with, tmp_path):
    """The example workflow: `--auto-promote` on staging, then on production, back to back, with the
    shipped config (staging's own pace, 50 → 100: at 10 % of its few req/s the judge needs minutes).
    At ×10: the second run's start-up counts in the lead time, and at ×30 a busy machine's few slow
    seconds of it are minutes."""
    emu = emulator_with("healthy", scale=10, shipped=True)
    reports = []
    for env in ("staging", "production"):
        report = tmp_path / f"{env}.json"
        result = subprocess.run(
            [sys.executable, "-m", "console", "--auto-promote", "--env", env, "--service", "vinsight-backend",
             "--report", str(report)],
            capture_output=True, text=True, env=emu.env, cwd=REPO, timeout=240,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        reports.append(json.loads(report.read_text()))
    first_write = datetime.fromisoformat(reports[0]["steps"][0]["started"])
    promoted = datetime.fromisoformat(reports[1]["steps"][-1]["ended"])
    assert [s["percent"] for s in reports[0]["steps"]] == [50, 100]
    assert [s["percent"] for s in reports[1]["steps"]] == [10, 50, 100]
    assert (promoted - first_write).total_seconds() <= 10 * 60, [r["steps"] for r in reports]
    assert all(s["source"] == "logs" for r in reports for s in r["steps"][:-1])
