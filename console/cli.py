"""The `vinconsole` command line.

Exit codes are an API: 0 done, 1 rolled back, 2 usage or config error, 3 infrastructure
error, 130 interrupted. Heavy imports (the Google clients, Textual) happen inside the
commands, so `vinconsole --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_ROLLED_BACK = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_INTERRUPTED = 130

DEMO_TIME_SCALE = 30.0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (default: $VINCONSOLE_CONFIG, then ./config.toml)")
    parser.add_argument("--env", metavar="E", help="only this environment (e.g. staging)")
    parser.add_argument("--service", metavar="S", help="only this service (e.g. vinsight-backend)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vinconsole",
        description="Release console for Cloud Run: watch revisions, step traffic, judge, promote, roll back.",
        epilog="Set VINCONSOLE_EMULATOR_HOST=127.0.0.1:PORT to talk to `vinconsole emulator` instead of Google Cloud.",
    )
    _common(parser)
    parser.add_argument("--demo", action="store_true", help="run on the built-in emulator seeded from the config")
    parser.add_argument("--scenario", default="healthy", help="emulator scenario for --demo (default: healthy)")
    parser.add_argument(
        "--time-scale", type=float, metavar="N", help=f"--demo clock speed (default ×{DEMO_TIME_SCALE:g}; 1 = real time)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = commands.add_parser("status", help="snapshot of services, revisions, traffic, errors, latency, cost")
    _common(status)
    status.add_argument("--json", action="store_true", help="print JSON (stable keys, null when there is no data)")

    emulator = commands.add_parser("emulator", help="run the Cloud Run / Monitoring / Logging emulator in the foreground")
    emulator.add_argument("--config", metavar="FILE", help="config file to seed the fleet from")
    emulator.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    emulator.add_argument("--scenario", default="healthy", help="how the candidates behave (default: healthy)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - expected failures become one line and an exit code
        from console.config import ConfigError
        from console.errors import VinconsoleError

        if isinstance(exc, ConfigError):
            print(f"vinconsole: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, VinconsoleError):
            print(f"vinconsole: {exc}", file=sys.stderr)
            return exc.exit_code
        raise


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "emulator":
        return cmd_emulator(args)
    if args.command == "status":
        return cmd_status(args)
    if args.demo:
        return cmd_demo(args)
    parser.print_help()
    return EXIT_OK


def _clock(args: argparse.Namespace):
    from console.clock import Clock

    try:
        return Clock.from_env()
    except ValueError as exc:
        from console.errors import UsageError

        raise UsageError(str(exc)) from None


def cmd_emulator(args: argparse.Namespace) -> int:
    from console.config import load_config
    from console.emulator import SCENARIOS, run_forever
    from console.errors import UsageError

    config = load_config(args.config)
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    return run_forever(config, args.scenario, args.port, _clock(args))


def cmd_status(args: argparse.Namespace) -> int:
    from console.config import load_config
    from console.gcp.clients import Clients
    from console.status import StatusReader

    config = load_config(args.config)
    targets = config.targets(args.env, args.service)
    clients = Clients.from_env()
    try:
        fleet = StatusReader(config, clients, _clock(args)).read(targets)
    finally:
        clients.close()
    if args.json:
        json.dump(fleet.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from rich.console import Console

        from console.tables import fleet_view

        Console().print(fleet_view(fleet, f"vinconsole status — {clients.target}"))
    unreadable = [s for s in fleet.services if s.error]
    return EXIT_INFRA if unreadable and len(unreadable) == len(fleet.services) else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The emulator in this process, with the fleet's status redrawn every few seconds."""
    import time

    from rich.console import Console
    from rich.live import Live

    from console.clock import Clock
    from console.config import load_config
    from console.emulator import SCENARIOS, Emulator
    from console.errors import UsageError
    from console.gcp.clients import Clients
    from console.status import StatusReader
    from console.tables import fleet_view

    config = load_config(args.config)
    targets = config.targets(args.env, args.service)
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    scale = args.time_scale or float(os.environ.get("VINCONSOLE_TIME_SCALE") or DEMO_TIME_SCALE)
    clock = Clock(scale)
    console = Console()
    with Emulator(config, scenario=args.scenario, clock=clock) as emulator:
        clients = Clients(emulator.address)
        reader = StatusReader(config, clients, clock)
        header = (
            f"vinconsole --demo — emulator at {emulator.address}, scenario {args.scenario}, "
            f"clock ×{scale:g} (simulated time runs {scale:g}× faster) — Ctrl-C to quit"
        )
        with Live(console=console, auto_refresh=False) as live:
            while True:
                live.update(fleet_view(reader.read(targets), header), refresh=True)
                time.sleep(3)
