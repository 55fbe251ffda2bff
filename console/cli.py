"""The `vinconsole` command line.

Exit codes are an API (`console.rollout.outcomes.ExitCode`): 0 done, 1 rolled back, 2 usage or
config error, 3 infrastructure error, 4 stopped because someone else changed the service, 130
interrupted. Heavy imports (the Google clients, Textual) happen inside the
commands, so `vinconsole --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from console.rollout.outcomes import ExitCode

EXIT_OK = ExitCode.OK
EXIT_ROLLED_BACK = ExitCode.ROLLED_BACK
EXIT_USAGE = ExitCode.USAGE
EXIT_INFRA = ExitCode.INFRASTRUCTURE
EXIT_SERVICE_CHANGED = ExitCode.SERVICE_CHANGED
EXIT_INTERRUPTED = ExitCode.INTERRUPTED

DEMO_TIME_SCALE = 30.0

CONFIG_HELP = "config file (default: $VINCONSOLE_CONFIG, then ./config.toml, then the user config dir: see `vinconsole init`)"

# Each subcommand's `-h` ends with an example and its exit codes (what scripts rely on).
EXIT_TEXT = {
    "read": "exit codes: 0 read, 2 usage or config error, 3 nothing could be read (infrastructure error)",
    "action": "exit codes: 0 done (a rollback asked for and done included), 1 the candidate failed its smoke "
              "checks on the way, 2 not confirmed or wrong input, 3 infrastructure error",
}
EPILOGS = {
    "status": ("vinconsole status --env staging\n  vinconsole status --json | jq '.services[].revisions[]'", "read"),
    "step": ("vinconsole step --env staging --service vinsight-backend --revision 63", "action"),
    "promote": ("vinconsole promote --env production --service vinsight-backend --yes", "action"),
    "rollback": ("vinconsole rollback --env production --service vinsight-backend --to 00062-abc", "action"),
    "incident": ("vinconsole incident --env production --read-only",
                 "exit codes: 0 quit, 2 usage or config error, 3 infrastructure error before the screen opened"),
    "cost": ("vinconsole cost --json\n  vinconsole cost --notify        # daily, from cron or a scheduled workflow",
             "exit codes: 0 read (and posted with --notify), 2 usage or config error, 3 infrastructure error or "
             "the webhook post failed"),
    "history": ("vinconsole history --env production --since 7d\n  vinconsole history --json | jq .dora.overall",
                "read"),
    "emulator": ("vinconsole emulator --scenario regression --port 8099\n"
                 "  eval \"$(vinconsole emulator | head -2 | tail -1)\"   # in another shell: the export line",
                 "exit codes: 0 stopped by Ctrl-C/SIGTERM, 2 usage or config error"),
    "init": ("vinconsole init --project staging=my-app-staging --project production=my-app-prod "
             "--service api --service web",
             "exit codes: 0 written, 2 usage error (missing answers off a terminal, a file already there)"),
    "completion": ("vinconsole completion bash > ~/.local/share/bash-completion/completions/vinconsole\n"
                   "  vinconsole completion zsh > \"${fpath[1]}/_vinconsole\"", "exit codes: 0 printed"),
}


def _epilog(command: str) -> str:
    example, codes = EPILOGS[command]
    return f"example:\n  {example}\n\n{EXIT_TEXT.get(codes, codes)}"


def _subcommand(commands, name: str, help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose `-h` says what it does, shows an example and lists its exit codes."""
    return commands.add_parser(
        name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".", epilog=_epilog(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


class _VersionAction(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked (keeps --help fast)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"vinconsole {installed_version()}")
        parser.exit()


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vinconsole")
    except PackageNotFoundError:
        return "(not installed: running from a source tree)"


def _common(parser: argparse.ArgumentParser, top_level: bool = False) -> None:
    # A subcommand's copy must not reset what was given before the subcommand (`--env E status`).
    default = None if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--config", metavar="FILE", default=default, help=CONFIG_HELP
    )
    parser.add_argument("--env", metavar="E", default=default, help="only this environment (e.g. staging)")
    parser.add_argument("--service", metavar="S", default=default, help="only this service (e.g. vinsight-backend)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vinconsole",
        description="Release console for Cloud Run: watch revisions, step traffic, judge, promote, roll back.",
        epilog="examples:\n  vinconsole --demo                      # the terminal UI on the built-in emulator\n"
        "  vinconsole init                        # write a starting config for your fleet\n"
        "  vinconsole --auto-promote --env staging --service api --revision api-00063-tzo\n\n"
        "--auto-promote exit codes: 0 promoted or nothing to do, 1 rolled back, 2 usage or config error,\n"
        "  3 infrastructure error (traffic left safe and said how), 130 interrupted\n\n"
        "Set VINCONSOLE_EMULATOR_HOST=127.0.0.1:PORT to talk to `vinconsole emulator` instead of Google Cloud.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="print the installed version and exit")
    _common(parser, top_level=True)
    parser.add_argument("--demo", action="store_true", help="run on the built-in emulator seeded from the config")
    parser.add_argument(
        "--read-only", action="store_true", help="the TUI without any action that changes traffic (hidden and refused)"
    )
    parser.add_argument(
        "--auto-promote", action="store_true",
        help="headless rollout: smoke-check, step traffic, judge, promote or roll back (exit 0 promoted/nothing to do, "
        "1 rolled back, 2 usage/config error, 3 infrastructure error, 4 stopped: someone else changed the service, "
        "130 interrupted)",
    )
    parser.add_argument("--revision", metavar="R", help="--auto-promote: the candidate revision, full name or 00063-tzo or 63 (default: newest ready)")
    parser.add_argument("--image", metavar="IMAGE", help="--auto-promote: deploy IMAGE as a new revision first, with no traffic")
    parser.add_argument("--report", metavar="FILE", help="--auto-promote: write a JSON report here")
    parser.add_argument(
        "--on-interrupt", choices=("rollback", "hold"), default="rollback",
        help="--auto-promote: on Ctrl-C/SIGTERM roll back to stable (default) or hold traffic where it is",
    )
    parser.add_argument("--scenario", default="healthy", help="emulator scenario for --demo (default: healthy)")
    parser.add_argument(
        "--time-scale", type=float, metavar="N", help=f"--demo clock speed (default ×{DEMO_TIME_SCALE:g}; 1 = real time)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = _subcommand(commands, "status", "snapshot of services, revisions, traffic, errors, latency, cost")
    _common(status)
    status.add_argument("--json", action="store_true", help="print JSON (stable keys, null when there is no data)")

    for name, text in (
        ("step", "move the candidate to the next step (starts a rollout, smoke checks first, if none runs)"),
        ("promote", "send the candidate of the running rollout 100 %%"),
        ("rollback", "send 100 %% back to the stable revision (or --to REVISION)"),
    ):
        action = _subcommand(commands, name, text)
        _common(action)
        action.add_argument("--yes", action="store_true", help="do not ask (required for production when not on a terminal)")
        if name == "rollback":
            action.add_argument("--to", metavar="REVISION", help="roll back to this revision instead of the stable one (full name, or 00063-tzo, or 63)")
        if name == "step":
            action.add_argument(
                "--revision", metavar="R", default=argparse.SUPPRESS, help="candidate revision when starting a rollout (full name, or 00063-tzo, or 63)"
            )

    incident = _subcommand(
        commands, "incident", "the TUI on the on-call incident view: what is broken, since when, which revision, roll back"
    )
    incident.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP)
    incident.add_argument("--env", metavar="E", default=argparse.SUPPRESS, help="only this environment (e.g. production)")
    incident.add_argument(
        "--read-only", action="store_true", default=argparse.SUPPRESS,
        help="without the rollback key (hidden and refused, also in the palette)",
    )

    cost = _subcommand(commands, "cost", "this month's spend per service against the budget and its alert thresholds")
    _common(cost)
    cost.add_argument("--json", action="store_true", help="print JSON (stable keys)")
    cost.add_argument(
        "--notify", action="store_true",
        help="also post the one-line summary to the webhook named by [notifications] webhook_url_env (a daily cron job)",
    )

    history = _subcommand(commands, "history", "rollouts from the audit log and the DORA figures beside the targets")
    _common(history)
    history.add_argument("--since", default="30d", metavar="30d", help="how far back: Nd, Nh or Nm (default: 30d)")
    history.add_argument("--json", action="store_true", help="print JSON (stable keys, null when there is no data)")

    emulator = _subcommand(commands, "emulator", "run the Cloud Run / Monitoring / Logging emulator in the foreground")
    emulator.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS,
        help="config file to seed the fleet from (default: as every command looks for one, else the bundled demo fleet)",
    )
    emulator.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    emulator.add_argument("--scenario", default="healthy", help="how the candidates behave (default: healthy)")
    emulator.add_argument("--request-logs", choices=("on", "off"), default="on",
                          help="Cloud Run's per-request log; off models a project that excludes it (default: on)")

    init = _subcommand(commands, "init", "write a commented starting config for your fleet and say where")
    init.add_argument(
        "--project", metavar="ENV=PROJECT", action="append", default=[],
        help="an environment and its Google Cloud project id, repeated (e.g. staging=my-app-staging); "
        "an environment named prod* is production (traffic changes need the service name typed)",
    )
    init.add_argument("--region", metavar="REGION", help="Cloud Run region of every environment (default: us-central1)")
    init.add_argument("--service", metavar="NAME", action="append", default=[], help="a Cloud Run service, repeated")
    init.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS,
        help="write here instead of the user config dir (then pass the same --config, or set $VINCONSOLE_CONFIG)",
    )
    init.add_argument("--force", action="store_true", help="overwrite a config that is already there")

    completion = _subcommand(commands, "completion", "print a shell completion script (bash, zsh or tcsh)")
    completion.add_argument("shell", choices=("bash", "zsh", "tcsh"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from console.install_check import check_installation

    collision = check_installation()
    if collision is not None:
        print(f"vinconsole: {collision}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _dispatch(parser, args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `vinconsole ... | head`: the reader left; no traceback over its output
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter flushes stdout at exit
        return EXIT_OK
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
    if args.command == "completion":
        import shtab

        print(shtab.complete(build_parser(), args.shell))
        return EXIT_OK
    if args.command == "init":
        from console.init_config import cmd_init

        return cmd_init(args)
    if args.command == "emulator":
        return cmd_emulator(args)
    if args.command == "status":
        return cmd_status(args)
    if args.command == "history":
        return cmd_history(args)
    if args.command == "cost":
        return cmd_cost(args)
    if args.command == "incident":
        return cmd_incident(args)
    if args.command in ("step", "promote", "rollback"):
        return cmd_action(args)
    if args.auto_promote:
        return cmd_auto_promote(args)
    if args.demo:
        return cmd_demo(args)
    return cmd_tui(args)


def _clock(args: argparse.Namespace):
    from console.clock import EPOCH_ENV, SCALE_ENV, Clock
    from console.errors import UsageError

    if os.environ.get(SCALE_ENV) and not os.environ.get(EPOCH_ENV) and args.command != "emulator":
        # each process would start its own epoch and disagree with the emulator about the time
        raise UsageError(
            f"{SCALE_ENV} is set without {EPOCH_ENV}: set both, as the `export` line `vinconsole emulator` prints"
        )
    try:
        return Clock.from_env()
    except ValueError as exc:
        from console.errors import UsageError

        raise UsageError(str(exc)) from None


def cmd_emulator(args: argparse.Namespace) -> int:
    from console.config import load_demo_config
    from console.emulator import SCENARIOS, run_forever
    from console.errors import UsageError

    config, source = load_demo_config(args.config)
    print(f"vinconsole emulator: fleet from {source}", file=sys.stderr)
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    return run_forever(config, args.scenario, args.port, _clock(args), request_logs=args.request_logs == "on")


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
        from console.output import print_view
        from console.tables import fleet_view

        print_view(lambda width: fleet_view(fleet, f"vinconsole status — {clients.target}", width))
    unreadable = [s for s in fleet.services if s.error]
    return EXIT_INFRA if unreadable and len(unreadable) == len(fleet.services) else EXIT_OK


def cmd_cost(args: argparse.Namespace) -> int:
    """Month to date per service, the fleet's total and forecast against the budget (fleet-wide, so the
    whole fleet is read even when --env/--service narrow the rows)."""
    from console.audit import Notifier
    from console.config import load_config
    from console.cost import budget_status
    from console.errors import UsageError
    from console.gcp.clients import Clients
    from console.spend import SpendReader, month_start
    from console.status import iso

    config = load_config(args.config)
    shown = {target.key for target in config.targets(args.env, args.service)}
    notifier = None
    if args.notify:
        url_env = config.notifications.webhook_url_env
        if not url_env or not os.environ.get(url_env):
            raise UsageError(
                "--notify: set [notifications] webhook_url_env in the config and export that variable"
                + (f" (${url_env} is empty)" if url_env else "")
            )
        notifier = Notifier(url_env, warn=lambda message: print(f"vinconsole: {message}", file=sys.stderr),
                            then="the summary was not delivered")
    clients = Clients.from_env()
    try:
        month = SpendReader(config, clients, _clock(args)).month_to_date(config.targets())
    finally:
        clients.close()
    budget = config.budget
    status = budget_status(month.total, month.forecast, budget.monthly_usd, budget.alert_percents, month.forecast_basis)
    if args.json:
        json.dump({
            "month_start": iso(month_start(month.read_at)), "read_at": iso(month.read_at),
            "services": {key: round(usd, 4) for key, usd in sorted(month.per_service.items()) if key in shown},
            "total": round(month.total, 4), "forecast": None if month.forecast is None else round(month.forecast, 4),
            "forecast_basis": month.forecast_basis,
            "budget": budget.monthly_usd, "alert_percents": list(budget.alert_percents),
            "spent_crossed": status.spent_crossed, "forecast_crossed": status.forecast_crossed,
            "level": status.level, "summary": status.summary(),
        }, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from console.output import print_view
        from console.tables import cost_view

        print_view(lambda width: cost_view(month, shown, status, f"vinconsole cost — {clients.target}"))
    if notifier is not None and not notifier.send(f"vinconsole cost: {status.summary()}"):
        return EXIT_INFRA
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from console.config import load_config
    from console.errors import UsageError
    from console.gcp.clients import Clients
    from console.history import parse_since, read_history

    config = load_config(args.config)
    targets = config.targets(args.env, args.service)
    try:
        span = parse_since(args.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    until = _clock(args).now()
    clients = Clients.from_env()
    try:
        history = read_history(config, clients, targets, until - span, until)
    finally:
        clients.close()
    if args.json:
        json.dump(history.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    from console.history import history_view
    from console.output import print_view

    print_view(lambda width: history_view(history, f"vinconsole history — {clients.target}, last {args.since}", width))
    return EXIT_OK


def _one_target(config, args: argparse.Namespace):
    from console.errors import UsageError

    targets = config.targets(args.env, args.service)
    if len(targets) != 1:
        names = ", ".join(t.key for t in targets)
        raise UsageError(f"name one service with --env and --service (this would match: {names})")
    return targets[0]


def cmd_auto_promote(args: argparse.Namespace) -> int:
    from console.config import load_config
    from console.gcp.clients import Clients
    from console.headless import run_auto_promote

    config = load_config(args.config)
    target = _one_target(config, args)
    clients = Clients.from_env()
    try:
        return run_auto_promote(
            config, target, clients, _clock(args), revision=args.revision, image=args.image,
            report_path=args.report, on_interrupt=args.on_interrupt,
        )
    finally:
        clients.close()


def confirm(target, plan: str, assume_yes: bool) -> bool:
    """Production: type the service name. Elsewhere: y. Not on a terminal: only with --yes."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        from console.errors import UsageError

        raise UsageError(f"{target.key}: about to {plan}; not on a terminal, so pass --yes to confirm")
    print(f"{target.key}: about to {plan}.")
    if target.environment.production:
        answer = input(f"This is production. Type the service name ({target.service}) to confirm: ")
        return answer.strip() == target.service
    return input("Proceed? [y/N] ").strip().lower() in ("y", "yes")


def cmd_action(args: argparse.Namespace) -> int:
    from console.config import load_config
    from console.engine import Engine
    from console.gcp.clients import Clients
    from console.headless import event_line

    config = load_config(args.config)
    target = _one_target(config, args)
    clients = Clients.from_env()
    try:
        engine = Engine(config, target, clients, _clock(args), on_event=lambda e: print(event_line(target, e), flush=True))
        if args.command == "step":
            _, plan = engine.plan_step()
        elif args.command == "promote":
            state = engine.refresh() and engine.state
            plan = f"send {state.candidate} 100 %" if state and state.active else "promote (no rollout is running)"
        else:
            _, plan = engine.plan_rollback(args.to)
        if plan.startswith("nothing"):
            print(f"{target.key}: {plan}")
            return EXIT_OK
        if not confirm(target, plan, args.yes or not target.environment.production and not sys.stdin.isatty()):
            print("not confirmed; nothing changed", file=sys.stderr)
            return EXIT_USAGE
        if args.command == "step":
            outcome = engine.step(getattr(args, "revision", None))
        elif args.command == "promote":
            outcome = engine.promote_now()
        else:
            outcome = engine.rollback_now(args.to)
    finally:
        clients.close()
    print(f"{target.key}: {outcome.outcome} — {outcome.message}")
    if outcome.outcome == "rolled_back" and outcome.exit_code in (EXIT_OK, EXIT_ROLLED_BACK):
        # asked for: done (exit 0); otherwise it is the rollout failing (smoke checks, or an operator's rollback)
        return EXIT_OK if args.command == "rollback" else EXIT_ROLLED_BACK
    return int(outcome.exit_code)


def cmd_demo(args: argparse.Namespace) -> int:
    """The TUI on the in-process emulator seeded from the config, on a faster clock."""
    from console.clock import Clock
    from console.config import BUNDLED_FLEET, load_demo_config
    from console.emulator import SCENARIOS, Emulator
    from console.errors import UsageError
    from console.gcp.clients import Clients, quiet_grpc

    quiet_grpc()
    config, source = load_demo_config(args.config)
    if args.env or args.service:
        config.targets(args.env, args.service)  # an unknown name is a usage error before the TUI starts
    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    scale = args.time_scale or float(os.environ.get("VINCONSOLE_TIME_SCALE") or DEMO_TIME_SCALE)
    clock = Clock(scale)
    from screens.app import run_tui

    with Emulator(config, scenario=args.scenario, clock=clock) as emulator:
        clients = Clients(emulator.address)
        try:
            banner = f"vinconsole demo — emulator, clock ×{scale:g} (scenario {args.scenario}, {emulator.address})"
            if source == BUNDLED_FLEET:
                banner += ", the bundled demo fleet"
            # the incident scenario opens on the incident view (esc: the fleet); a named service still wins
            start = "incident" if args.scenario == "incident" and not args.service else "fleet"
            return run_tui(config, clients, clock, read_only=args.read_only, env=args.env, service=args.service,
                           banner=banner, start=start)
        finally:
            clients.close()


def cmd_tui(args: argparse.Namespace) -> int:
    """`vinconsole` alone: the TUI on the real fleet, or on $VINCONSOLE_EMULATOR_HOST when set."""
    from console.config import load_config
    from console.gcp.clients import Clients, quiet_grpc

    quiet_grpc()
    config = load_config(args.config)
    if args.env or args.service:
        config.targets(args.env, args.service)
    clock = _clock(args)
    from screens.app import run_tui

    clients = Clients.from_env()
    try:
        banner = f"vinconsole — {clients.target}" + (f", clock ×{clock.scale:g}" if clock.scaled else "")
        return run_tui(config, clients, clock, read_only=args.read_only, env=args.env, service=args.service,
                       banner=banner)
    finally:
        clients.close()


def cmd_incident(args: argparse.Namespace) -> int:
    """`vinconsole incident`: the TUI on the incident view, on the real fleet or $VINCONSOLE_EMULATOR_HOST."""
    from console.config import load_config
    from console.gcp.clients import Clients, quiet_grpc

    quiet_grpc()
    config = load_config(args.config)
    if args.env:
        config.targets(args.env)  # an unknown environment is a usage error before the TUI starts
    clock = _clock(args)
    from screens.app import run_tui

    clients = Clients.from_env()
    try:
        banner = f"vinconsole incident — {clients.target}" + (f", clock ×{clock.scale:g}" if clock.scaled else "")
        return run_tui(config, clients, clock, read_only=args.read_only, env=args.env, banner=banner, start="incident")
    finally:
        clients.close()
