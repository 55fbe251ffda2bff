"""End to end, as CI uses it: `vinconsole emulator` in one process, the console in others,
on a shared scaled clock. Checks exit codes, the JSON report and the final traffic."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCALE = 200


STAGING_PACE = "[environments.staging.rollout]\nsteps = [50, 100]\n"


def stepped_config(tmp_path: Path) -> Path:
    """The shipped config with staging stepped 10 → 50 → 100 like production: these tests drive the
    engine's steps on staging. The shipped staging goes 50 → 100 (test_request_log_source runs it)."""
    text = (REPO / "config.toml").read_text()
    assert STAGING_PACE in text
    path = tmp_path / "config.toml"
    path.write_text(text.replace(STAGING_PACE, ""))
    return path


def strict_config(tmp_path: Path) -> Path:
    """`stepped_config` with α = 0.002: a healthy candidate is then falsely rolled back about once
    in a thousand runs instead of about once in a hundred (α is a probability, and these tests assert
    what one run does; bench/judge.py measures the judge's rates)."""
    path = stepped_config(tmp_path)
    text = path.read_text()
    assert "alpha = 0.05 " in text
    path.write_text(text.replace("alpha = 0.05 ", "alpha = 0.002 "))
    return path


class EmulatorProcess:
    def __init__(self, scenario: str, config: Path = REPO / "config.toml", scale: int = SCALE):
        self.env = {
            **os.environ,
            "VINCONSOLE_TIME_SCALE": str(scale),
            "VINCONSOLE_TIME_EPOCH": str(int(time.time())),
            "GRPC_VERBOSITY": "ERROR",
            "VINCONSOLE_CONFIG": str(config),
        }
        self.env.pop("GITHUB_STEP_SUMMARY", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "console", "emulator", "--scenario", scenario],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env, cwd=REPO,
        )
        seen = ""
        match = None
        for _ in range(20):  # the first line names the address; skip anything printed before it
            line = self.proc.stdout.readline()
            seen += line
            match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
            if match or not line:
                break
        if match is None:
            self.proc.kill()
            raise AssertionError(f"the emulator did not start: {seen}{self.proc.stderr.read()}")
        self.env["VINCONSOLE_EMULATOR_HOST"] = match.group(1)

    def vinconsole(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "console", *args], capture_output=True, text=True, env=self.env, cwd=REPO,
            timeout=timeout,
        )

    def spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "console", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=self.env, cwd=REPO,
        )

    def status(self) -> dict:
        result = self.vinconsole("status", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def emulator_process(tmp_path):
    started = []

    def start(scenario: str = "healthy", config: Path | None = None, scale: int = SCALE) -> EmulatorProcess:
        emu = EmulatorProcess(scenario, config or stepped_config(tmp_path), scale)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def backend(status: dict, env: str = "staging") -> dict:
    return next(s for s in status["services"] if s["env"] == env and s["service"] == "vinsight-backend")


AUTO = ("--auto-promote", "--env", "staging", "--service", "vinsight-backend")


def test_status_json_lists_the_fleet_with_numbers(emulator_process):
    emu = emulator_process()
    status = emu.status()
    assert {(s["env"], s["service"]) for s in status["services"]} == {
        (env, svc) for env in ("staging", "production") for svc in ("vinsight-backend", "vinsight-frontend")
    }
    for service in status["services"]:
        assert len(service["revisions"]) >= 2
        assert sum(r["traffic_percent"] for r in service["revisions"]) == 100
        serving = next(r for r in service["revisions"] if r["traffic_percent"] == 100)
        for key in ("request_rate", "error_rate", "p95_ms", "cost_per_hour"):
            assert serving[key] and serving[key] > 0, (service["service"], key, serving)
        idle = [r for r in service["revisions"] if r["traffic_percent"] == 0]
        assert all(r["request_rate"] is None for r in idle)  # no data is null, never 0


def test_status_in_a_pipe_prints_every_column_whole(emulator_process):
    emu = emulator_process()
    result = emu.vinconsole("status")  # stdout is a pipe, as in a CI log
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout  # no cell squeezed to fit 80 columns
    for column in ("revision", "traffic", "5xx", "p50", "p95", "p99", "cost/h", "image"):
        assert column in result.stdout
    assert "vinsight-backend-00054-jif" in result.stdout and "\x1b[" not in result.stdout  # names whole, no colour codes


def test_healthy_rollout_is_promoted_with_a_report(emulator_process, tmp_path):
    emu = emulator_process("healthy", strict_config(tmp_path))
    summary = tmp_path / "summary.md"
    emu.env["GITHUB_STEP_SUMMARY"] = str(summary)
    started = time.monotonic()
    result = emu.vinconsole(*AUTO, "--report", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["outcome"] == "promoted"
    assert [s["percent"] for s in report["steps"]] == [10, 50, 100]
    assert all(s["verdict"] == "pass" and s["reasons"] for s in report["steps"])
    assert report["steps"][0]["metrics"]["candidate"]["requests"] > 0
    assert all(check["ok"] for check in report["smoke"])
    revisions = backend(emu.status())["revisions"]
    assert next(r for r in revisions if r["name"] == report["candidate"])["traffic_percent"] == 100
    assert "\x1b[" not in result.stdout  # no colour codes when stdout is not a terminal
    text = summary.read_text()
    assert "| step | verdict |" in text and "```mermaid" in text
    # every chart number is a plain decimal, as Mermaid's xychart grammar needs (tests/console/test_report.py)
    numbers = re.findall(r"(?:bar|line) \[([^\]]*)\]|--> (\S+)", text)
    assert numbers and all(re.fullmatch(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)", n.strip())
                           for group in numbers for part in group if part for n in part.split(","))
    # production-like settings (60 s windows, 5-minute bakes) at ×200: well within the wall-time goal
    assert time.monotonic() - started < 60


def test_regression_rolls_back_and_says_why(emulator_process, tmp_path):
    emu = emulator_process("regression")
    result = emu.vinconsole(*AUTO, "--report", str(tmp_path / "r.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["outcome"] == "rolled_back"
    assert len(report["steps"]) <= 2
    reasons = " ".join(report["steps"][-1]["reasons"])
    assert "5xx" in reasons and "vs stable" in reasons
    assert "::error" in result.stdout
    revisions = backend(emu.status())["revisions"]
    assert next(r for r in revisions if r["name"] == report["stable"])["traffic_percent"] == 100


def test_crashloop_fails_at_smoke_without_traffic(emulator_process, tmp_path):
    emu = emulator_process("crashloop")
    result = emu.vinconsole(*AUTO, "--report", str(tmp_path / "r.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["steps"] == [] and not all(c["ok"] for c in report["smoke"])
    assert " 10 %" not in result.stdout.replace("0 %", "")


def test_kill_9_then_rerun_resumes_and_a_concurrent_run_is_refused(emulator_process, tmp_path):
    # at ×50 the driver's 120 s lease is 2.4 real seconds: a busy CI machine that delays a renewal by
    # half a second (0.6 s at ×200) no longer lets the rival take the lease over from a live driver
    emu = emulator_process("healthy", strict_config(tmp_path), scale=50)
    first = emu.spawn(*AUTO)
    seen = ""
    deadline = time.monotonic() + 60
    while "bake:" not in seen and time.monotonic() < deadline:
        seen += first.stdout.readline()
    assert "bake:" in seen, seen
    rival = emu.vinconsole(*AUTO)
    assert rival.returncode == 3
    assert "is being driven by" in rival.stderr and f"pid {first.pid}" in rival.stderr
    first.send_signal(signal.SIGKILL)
    first.wait()
    mid = backend(emu.status())
    assert mid["rollout"]["phase"] == "baking"
    rerun = emu.vinconsole(*AUTO)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "resuming rollout" in rerun.stdout
    final = backend(emu.status())
    assert final["rollout"]["phase"] == "promoted"
    assert next(r for r in final["revisions"] if r["name"] == final["rollout"]["candidate"])["traffic_percent"] == 100


def test_step_then_status_sees_the_split_and_the_regression(emulator_process):
    emu = emulator_process("regression")
    result = emu.vinconsole("step", "--env", "staging", "--service", "vinsight-backend", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    time.sleep(600 / SCALE)  # ten minutes of simulated traffic, past the metric delay
    service = backend(emu.status())
    by_name = {r["name"]: r for r in service["revisions"]}
    candidate = by_name[service["rollout"]["candidate"]]
    stable = by_name[service["rollout"]["stable"]]
    assert candidate["traffic_percent"] == 10 and stable["traffic_percent"] == 90
    assert candidate["error_rate"] > 3 * stable["error_rate"]
    # one command puts it back, and a rollback that was asked for and done exits 0
    rolled = emu.vinconsole("rollback", "--env", "staging", "--service", "vinsight-backend", "--yes")
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    after = {r["name"]: r["traffic_percent"] for r in backend(emu.status())["revisions"]}
    assert after[stable["name"]] == 100 and after[candidate["name"]] == 0


def test_production_action_needs_yes_off_a_terminal(emulator_process):
    emu = emulator_process()
    result = emu.vinconsole("rollback", "--env", "production", "--service", "vinsight-backend")
    assert result.returncode == 2
    assert "--yes" in result.stderr
    before = backend(emu.status(), "production")
    serving = next(r for r in before["revisions"] if r["traffic_percent"] == 100)
    confirmed = emu.vinconsole("rollback", "--env", "production", "--service", "vinsight-backend", "--yes")
    assert confirmed.returncode == 0, confirmed.stdout + confirmed.stderr
    after = backend(emu.status(), "production")
    now_serving = next(r for r in after["revisions"] if r["traffic_percent"] == 100)
    assert now_serving["created"] < serving["created"]  # the previous revision


def test_usage_errors_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "console", "--auto-promote", "--env", "staging"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "VINCONSOLE_CONFIG": str(REPO / "config.toml")},
    )
    assert result.returncode == 2 and "--service" in result.stderr
