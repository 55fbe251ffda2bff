"""Engine safety end to end, as production behaves: `vinconsole emulator` in one process with its
reconciliation delay on (a traffic change is served seconds after the write), drivers, operators
and rollbacks in others, on a shared scaled clock.

Each test waits on what a process prints or on what the service serves, never on a fixed sleep
alone: the machine may be loaded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.test_cli import AUTO, SCALE, EmulatorProcess, backend, strict_config

ROLLBACK = ("rollback", "--env", "staging", "--service", "vinsight-backend", "--yes")
BACKEND = "projects/vinsight-staging/locations/us-central1/services/vinsight-backend"


@pytest.fixture
def emulator_with_delay(monkeypatch, tmp_path):
    """An emulator process whose traffic changes are served `reconcile` clock seconds after the write;
    the console judges on Monitoring's pace, so a rollout lasts long enough to interfere with."""
    started: list[EmulatorProcess] = []

    def start(reconcile: float = 5.0, scenario: str = "healthy") -> EmulatorProcess:
        monkeypatch.setenv("VINCONSOLE_EMULATOR_RECONCILE_SECONDS", str(reconcile))
        config = strict_config(tmp_path)  # judged on Monitoring: 5-minute bakes leave time to interfere
        config.write_text(config.read_text().replace('source = "auto"', 'source = "monitoring"'))
        emu = EmulatorProcess(scenario, config)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def read_until(proc: subprocess.Popen, needle: str, timeout: float = 60) -> str:
    """Lines the process prints until one contains `needle` (AssertionError naming what it printed)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"never printed {needle!r}; printed:\n{seen}")


def finish(proc: subprocess.Popen, timeout: float = 90) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def traffic(emu: EmulatorProcess) -> dict[str, int]:
    return {r["name"]: r["traffic_percent"] for r in backend(emu.status())["revisions"] if r["traffic_percent"]}


def wait_for(condition, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def operator_update_traffic(emu: EmulatorProcess, split: dict[str, int], principal: str) -> None:
    """What `gcloud run services update-traffic` does: a plain UpdateService, no etag, as `principal`."""
    from google.cloud import run_v2

    from console.gcp.clients import Clients

    clients = Clients(emulator_host=emu.env["VINCONSOLE_EMULATOR_HOST"])
    try:
        service = clients.services.get_service(name=BACKEND, timeout=10)
        tags = {t.tag: t.revision for t in service.traffic if t.tag}
        service.etag = ""
        service.traffic = [
            run_v2.TrafficTarget(
                type_=run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=revision, percent=percent,
                tag=next((tag for tag, rev in tags.items() if rev == revision), ""),
            )
            for revision, percent in split.items()
        ]
        clients.services.update_service(
            service=service, timeout=10, metadata=[("x-emulator-principal", principal)]
        ).result(timeout=10)
    finally:
        clients.close()


def clock_of(line: str) -> float:
    return datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()


def test_a_traffic_change_by_someone_else_while_it_reconciles_is_never_overwritten(emulator_with_delay):
    emu = emulator_with_delay(reconcile=60)  # 60 clock s: 0.3 s of real time at ×200
    driver = emu.spawn(*AUTO)
    read_until(driver, "bake:")
    rollout = backend(emu.status())["rollout"]
    operator_update_traffic(emu, {rollout["stable"]: 70, rollout["candidate"]: 30}, "alice@example.com")
    code, out = finish(driver)
    assert code == 4, out
    assert "someone else changed the service" in out and "alice@example.com" in out, out
    assert "70 %" in out and "30 %" in out, out  # says what changed, with the numbers
    wait_for(lambda: traffic(emu) == {rollout["stable"]: 70, rollout["candidate"]: 30}, what="alice's 70/30 served")
    time.sleep(400 / SCALE)  # the driver's lease would have been renewed by now: nothing writes 90/10 back
    assert traffic(emu) == {rollout["stable"]: 70, rollout["candidate"]: 30}


def test_rollback_while_another_process_drives_wins_and_the_driver_stops_naming_it(emulator_with_delay):
    emu = emulator_with_delay()
    driver = emu.spawn(*AUTO)
    read_until(driver, "bake:")
    rollout = backend(emu.status())["rollout"]
    started = time.monotonic()
    rollback = emu.spawn(*ROLLBACK)
    code, out = finish(rollback)
    assert code == 0, out
    assert traffic(emu) == {rollout["stable"]: 100}
    assert time.monotonic() - started < 15  # within seconds, though the driver holds the lease
    assert f"pid {driver.pid}" in out  # the audit and the output say whose lease it took
    code, driven = finish(driver)
    assert code == 1, driven
    assert "rolled back by " in driven and f"pid {rollback.pid}" in driven, driven
    after = driven.split("rolled back by", 1)[1]
    assert " traffic: " not in after  # it wrote nothing after it noticed
    final = backend(emu.status())
    assert final["rollout"]["phase"] == "rolled_back" and traffic(emu) == {rollout["stable"]: 100}
    assert "was driving" in final["rollout"]["reason"] and f"pid {driver.pid}" in final["rollout"]["reason"]


def test_a_frozen_driver_taken_over_never_writes_again_and_the_new_holder_finishes(emulator_with_delay):
    emu = emulator_with_delay()
    frozen = emu.spawn(*AUTO)
    read_until(frozen, "bake:")
    frozen.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2 * 120 / SCALE)  # twice its lease (120 clock s): expired
        successor = emu.spawn(*AUTO)
        taken = read_until(successor, "resuming rollout")  # after taking the lease (generation 2)
        takeover = clock_of(next(line for line in taken.splitlines() if "lease taken" in line))
    finally:
        frozen.send_signal(signal.SIGCONT)
    code, woken = finish(frozen)
    assert code == 4, woken
    assert "lease" in woken.split("someone else changed the service", 1)[1], woken
    # every write prints a traffic line: none from the frozen driver after the takeover
    writes = [line for line in woken.splitlines() if " traffic: " in line or " written: " in line]
    assert all(clock_of(line) < takeover for line in writes), (takeover, woken)
    code, out = finish(successor)
    assert code == 0, out
    final = backend(emu.status())
    assert final["rollout"]["phase"] == "promoted"
    assert traffic(emu) == {final["rollout"]["candidate"]: 100}
    # the history credits both drivers, each for the part it drove
    history = emu.vinconsole("history", "--env", "staging", "--service", "vinsight-backend", "--json")
    assert history.returncode == 0, history.stderr
    rollout = next(r for r in json.loads(history.stdout)["rollouts"] if r["id"] == final["rollout"]["id"])
    assert [d.rsplit("pid ", 1)[-1] for d in rollout["drivers"]] == [str(frozen.pid), str(successor.pid)]


def test_sigterm_mid_rollout_then_the_same_command_rolls_the_candidate_out(emulator_with_delay):
    emu = emulator_with_delay()
    first = emu.spawn(*AUTO)
    read_until(first, "bake:")
    candidate = backend(emu.status())["rollout"]["candidate"]
    first.send_signal(signal.SIGTERM)
    code, out = finish(first)
    assert code == 130, out
    assert candidate not in traffic(emu)  # rolled back to stable…
    again = emu.vinconsole(*AUTO)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to do" not in again.stdout  # …but not marked failed: the rerun rolls it out
    assert traffic(emu) == {candidate: 100}


def test_sigint_before_the_first_step_shifts_nothing(emulator_with_delay):
    emu = emulator_with_delay(reconcile=100)  # the start write (tags) takes 0.5 s to be served
    before = traffic(emu)
    driver = emu.spawn(*AUTO)
    read_until(driver, "written:")  # the rollout's start: tags written, before any smoke check or step
    driver.send_signal(signal.SIGINT)
    code, out = finish(driver)
    assert code == 130, out
    assert "nothing shifted" in out, out
    assert "to 10 %" not in out, out
    assert traffic(emu) == before


def test_kill_9_right_after_a_step_write_then_rerun_judges_only_windows_that_served_it(emulator_with_delay, tmp_path):
    emu = emulator_with_delay(reconcile=100)  # a step is served 100 clock s after its write
    first = emu.spawn(*AUTO)
    seen = read_until(first, "to 10 %; waiting for Cloud Run")
    written_at = clock_of(seen.splitlines()[-1])
    first.send_signal(signal.SIGKILL)
    first.wait()
    mid = backend(emu.status())
    assert mid["rollout"]["percent"] == 10
    rerun = emu.vinconsole(*AUTO, "--report", str(tmp_path / "r.json"))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "waiting up to" in rerun.stdout or "served; judged on windows from" in rerun.stdout
    report = json.loads(Path(tmp_path / "r.json").read_text())
    assert [s["percent"] for s in report["steps"]] == [10, 50, 100]  # no jump past a step
    first_step = datetime.fromisoformat(report["steps"][0]["started"].replace("Z", "+00:00")).timestamp()
    assert first_step >= written_at + 100 - 1  # judged from when it served, not from the write
    assert traffic(emu) == {report["candidate"]: 100}
