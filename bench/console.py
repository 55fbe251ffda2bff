"""Console benchmark: API calls and wall time per refresh, first paint, idle CPU, peak memory.

    /tmp/venv/bin/python bench/console.py [--idle-seconds 30]

Prints figures; asserts nothing. The emulator runs in this process for the refresh figures (1, 10
and 50 services × 20 revisions each) and in its own process for the app figures, so that the app's
CPU is the app's alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

REVISIONS = 20


def fleet_config(services: int):
    from console.config import load_config

    base = load_config(ROOT / "config.toml")
    template = base.services["vinsight-backend"]
    svcs = {f"svc-{i:03d}": template.model_copy(update={"environments": ["staging"]}) for i in range(services)}
    return base.model_copy(update={"services": svcs, "environments": {"staging": base.environments["staging"]}})


def add_revisions(emu, count: int) -> None:
    """Bench-only: give every simulated service `count` revisions (older ones, no traffic)."""
    fleet = emu.fleet
    for svc in fleet.services():
        have = len(svc.revisions)
        oldest = min(r.create_time for r in svc.revisions.values())
        behavior = next(iter(svc.revisions.values())).behavior
        for k in range(count - have):
            fleet.add_revision(svc, oldest - 3600 * (k + 1), behavior, ready=True)
        # keep the seeded revisions the latest
        newest = max(svc.revisions.values(), key=lambda r: r.create_time)
        svc.latest_created = svc.latest_ready = newest.name


def refresh_figures() -> None:
    from console.clock import Clock
    from console.emulator import Emulator
    from console.gcp.clients import Clients
    from screens.data import FleetData

    print("refresh (StatusReader via screens.data.FleetData), emulator in process:")
    print(f"{'services':>9} {'revisions':>10} {'fleet calls':>12} {'fleet ms':>9} {'service calls':>14} {'service ms':>11}")
    for services, per_service in ((10, 3), (1, REVISIONS), (10, REVISIONS), (50, REVISIONS)):
        config = fleet_config(services)
        clock = Clock(30)
        with Emulator(config, scenario="healthy", clock=clock) as emu:
            add_revisions(emu, per_service)
            clients = Clients(emu.address)
            data = FleetData(config, clients, clock)
            targets = config.targets()
            data.read(targets)  # warm the channels
            times, calls = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                fleet = data.read(targets)
                times.append((time.perf_counter() - t0) * 1000)
                calls.append(fleet.api_calls)
            revisions = sum(len(s.revisions) for s in fleet.services)
            stimes, scalls = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                one = data.read(targets[:1])
                series = data.series(targets[0])
                stimes.append((time.perf_counter() - t0) * 1000)
                scalls.append(one.api_calls + series.api_calls)
            clients.close()
        print(f"{services:>9} {revisions:>10} {max(calls):>12} {statistics.median(times):>9.0f} {max(scalls):>14} {statistics.median(stimes):>11.0f}")
    print("  fleet calls = 1 ListServices + 4 ListTimeSeries per project/region + 1 ListRevisions per service;")
    print("  they grow with services, never with revisions.")


APP_PROBE = textwrap.dedent(
    """
    import os, resource, sys, time
    T0 = time.perf_counter()
    sys.path.insert(0, {root!r})
    import asyncio
    from console.clock import Clock
    from console.config import load_config
    from console.gcp.clients import Clients
    from screens.app import create_app
    from screens.fleet import FleetScreen

    IDLE = float(sys.argv[1])

    async def main():
        config = load_config({config!r})
        app = create_app(config, Clients.from_env(), Clock.from_env(), banner="bench")
        async with app.run_test(size=(160, 48)) as pilot:
            while not (isinstance(app.screen, FleetScreen) and app.screen.current is not None):
                await asyncio.sleep(0.01)
            await pilot.pause(0)
            first = time.perf_counter() - T0
            await asyncio.sleep(3)  # let the month-to-date read settle
            r0 = resource.getrusage(resource.RUSAGE_SELF); w0 = time.perf_counter()
            await asyncio.sleep(IDLE)
            r1 = resource.getrusage(resource.RUSAGE_SELF); w1 = time.perf_counter()
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        # VmHWM: this process image's peak RSS. ru_maxrss would also count the bench process's RSS
        # at fork (Linux keeps it across exec), which holds the 50-service emulator above.
        with open("/proc/self/status") as status:
            peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
        print(f"{{first:.3f}} {{cpu / (w1 - w0) * 100:.2f}} {{peak:.0f}}")

    asyncio.run(main())
    """
)


def app_figures(idle_seconds: float) -> None:
    env = dict(os.environ, VINCONSOLE_TIME_SCALE="30", VINCONSOLE_TIME_EPOCH=str(time.time()), GRPC_VERBOSITY="ERROR")
    emulator = subprocess.Popen(
        [sys.executable, "-m", "console", "emulator", "--config", str(ROOT / "config.toml")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = emulator.stdout.readline()
        address = line.split(" on ", 1)[1].split()[0]
        env["VINCONSOLE_EMULATOR_HOST"] = address
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as probe:
            probe.write(APP_PROBE.format(root=str(ROOT), config=str(ROOT / "config.toml")))
        out = subprocess.run([sys.executable, probe.name, str(idle_seconds)], env=env, capture_output=True, text=True, timeout=idle_seconds + 120)
        os.unlink(probe.name)
        if out.returncode:
            print(out.stderr[-2000:])
            return
        first, cpu, peak = out.stdout.split()[-3:]
        print(f"app (VinSight config, 4 services; emulator in its own process; headless 160×48; refresh every 5 s):")
        print(f"  process start → first painted fleet screen with data: {float(first) * 1000:.0f} ms")
        print(f"  idle CPU over {idle_seconds:g} s: {float(cpu):.2f} % of one core")
        print(f"  peak memory (VmHWM): {peak} MiB")
    finally:
        emulator.terminate()
        emulator.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    refresh_figures()
    print()
    app_figures(args.idle_seconds)
    print(f"  (bench process peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
