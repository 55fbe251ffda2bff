"""Console benchmark: API calls and wall time per refresh, first paint, idle CPU, peak memory,
and Cloud Logging quota use (log reads per minute per project, live tail sessions).

    /tmp/venv/bin/python bench/console.py [--idle-seconds 30] [--quota-minutes 10] [--quota-scale 10]

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
        print("app (VinSight config, 4 services; emulator in its own process; headless 160×48; refresh every 5 s):")
        print(f"  process start → first painted fleet screen with data: {float(first) * 1000:.0f} ms")
        print(f"  idle CPU over {idle_seconds:g} s: {float(cpu):.2f} % of one core")
        print(f"  peak memory (VmHWM): {peak} MiB")
    finally:
        emulator.terminate()
        emulator.wait(10)


async def _drive_views(app, clock, minutes: float) -> tuple[float, float]:
    """The incident view and the service screens, alternating every simulated minute, the incident
    view's selection moving to the next service each time (so its tail moves too)."""
    import asyncio

    from screens.incident import IncidentScreen

    async with app.run_test(size=(160, 48)) as pilot:
        while not isinstance(app.screen, IncidentScreen):
            await asyncio.sleep(0.01)
        start = clock.now()
        keys = [t.key for t in app.config.targets()]
        minute = 0
        while clock.now() - start < minutes * 60:
            now_minute = int((clock.now() - start) // 60)
            if now_minute != minute:
                minute = now_minute
                if minute % 2:
                    app.open_service(keys[(minute // 2) % len(keys)])
                else:
                    await app.pop_screen()
                    if not isinstance(app.screen, IncidentScreen):
                        app.open_incident()
                    await pilot.press("down")
            await asyncio.sleep(0.05)
        end = clock.now()
    return start, end


def quota_figures(minutes: float, scale: float) -> None:
    """Log reads per minute per project and tail sessions, measured by the emulator (LogQuotas)."""
    import asyncio

    from console.clock import Clock
    from console.config import load_config
    from console.emulator import Emulator
    from console.gcp.clients import Clients
    from console.gcp.logs import LOG_READS_PER_MINUTE, PROJECT_READ_QUOTA_PER_MINUTE, PROJECT_TAIL_SESSIONS
    from screens.app import create_app

    config = load_config(ROOT / "config.toml")
    clock = Clock(scale)
    with Emulator(config, scenario="incident", clock=clock) as emu:
        clients = Clients(emu.address)
        # a 5 s refresh in clock time, as an operator's terminal does it in real time
        app = create_app(config, clients, clock, banner="bench", refresh_seconds=5.0 / scale, month_to_date=False,
                         start="incident")
        start, end = asyncio.run(_drive_views(app, clock, minutes))
        clients.close()
        quotas = emu.log_quotas
        print(f"Cloud Logging quota use: incident view + service screens for {minutes:g} simulated minutes "
              f"(time ×{scale:g}, refresh every 5 s of clock time, incident scenario), measured by the emulator:")
        print(f"{'project':>16} {'log reads/min':>14} {'busiest minute':>15} {'refused':>8} {'max tails':>10}")
        for project in sorted({t.project for t in config.targets()}):
            mean, busiest = quotas.reads_per_minute_of(project, start, end)
            print(f"{project:>16} {mean:>14.1f} {busiest:>15} {quotas.refused_reads.get(project, 0):>8} "
                  f"{quotas.max_tails.get(project, 0):>10}")
        print(f"  limits: ListLogEntries {PROJECT_READ_QUOTA_PER_MINUTE}/min per project (this console caps itself at "
              f"{LOG_READS_PER_MINUTE}); {PROJECT_TAIL_SESSIONS} tail sessions per project (this console holds ≤ 2: the "
              f"incident view's error tail, and the request-log tail its engine and screens share)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--quota-minutes", type=float, default=10.0, help="simulated minutes of the quota figures")
    parser.add_argument("--quota-scale", type=float, default=10.0, help="clock speed for the quota figures")
    parser.add_argument("--only", choices=("refresh", "app", "quota"), help="print one group of figures")
    args = parser.parse_args()
    if args.only in (None, "refresh"):
        refresh_figures()
        print()
    if args.only in (None, "app"):
        app_figures(args.idle_seconds)
        print()
    if args.only in (None, "quota"):
        quota_figures(args.quota_minutes, args.quota_scale)
    print(f"  (bench process peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
