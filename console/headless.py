"""`vinconsole --auto-promote`: the engine without a screen, for CI and scripts.

On a terminal: a live panel (step, bake time as a bar, the judge's evidence against its
boundary) above the event lines. Elsewhere: one plain line per event, no colour codes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from console.clock import Clock
from console.config import Config, Target
from console.engine import Engine, Event, EventKind, ExitCode, Outcome
from console.gcp.clients import Clients
from console.report import markdown_summary, report_json
from console.rollout.outcomes import OnInterrupt
from console.status import iso

QUIET_LIMIT_SECONDS = 60  # the longest a headless rollout stays silent in a CI log


def event_line(target: Target, event: Event) -> str:
    where = f"step {event.step}" if event.step else "-"
    percent = f"{event.percent} %" if event.percent is not None else "-"
    return f"{iso(event.at)} {target.key} {where} {percent} {event.kind}: {event.message}"


class ProgressPanel:
    """The live view on a terminal: what step, how long baked, what the judge sees."""

    def __init__(self, target: Target):
        self.target = target
        self.last_bake: Event | None = None
        self.headline = "starting"

    def update(self, event: Event) -> None:
        if event.kind == "bake":
            self.last_bake = event
        elif event.kind not in ("warn", "smoke"):
            self.headline = event.message

    def __rich__(self) -> Group:
        parts: list = [Text(f"{self.target.key}: {self.headline}", style="bold")]
        bake = self.last_bake
        if bake is not None:
            data = bake.data
            baked, min_bake, max_bake = data.get("baked", 0), data.get("min_bake", 1), data.get("max_bake", 1)
            table = Table.grid(padding=(0, 1))
            table.add_row(
                Text(f"step {bake.step} at {bake.percent} %"),
                ProgressBar(total=max_bake, completed=min(baked, max_bake), width=40),
                Text(f"{baked / 60:.1f} of {min_bake / 60:.0f}–{max_bake / 60:.0f} min"),
            )
            metrics = data.get("metrics") or {}
            for name, label in (("errors", "5xx"), ("slow", "slow")):
                metric = metrics.get(name) or {}
                lr, limit = metric.get("likelihood_ratio"), metric.get("rollback_at")
                if lr is None or not limit:
                    continue
                cand, stab = metric.get("candidate_rate"), metric.get("stable_rate")
                rates = (
                    f"{label} {cand * 100:.2f} % vs {stab * 100:.2f} % (rollout)"
                    if cand is not None and stab is not None
                    else f"{label}: no data yet"
                )
                table.add_row(
                    Text(rates),
                    ProgressBar(total=limit, completed=min(lr, limit), width=40,
                                complete_style="red" if lr >= limit else "yellow"),
                    Text(f"evidence LR {lr:.2g} / rollback at {limit:g}"),
                )
            parts.append(table)
            parts.append(Text(f"judge: {data.get('decision', '?')} — " + "; ".join(data.get("reasons", [])[:3]), style="dim"))
        return Group(*parts)


def run_auto_promote(
    config: Config,
    target: Target,
    clients: Clients,
    clock: Clock,
    *,
    revision: str | None,
    image: str | None,
    report_path: str | None,
    on_interrupt: OnInterrupt,
    out: IO[str] | None = None,
) -> int:
    out = out or sys.stdout
    console = Console(file=out, highlight=False)
    tty = console.is_terminal
    panel = ProgressPanel(target)
    # transient: the panel is progress; once decided, the event lines and the last line tell it all
    live = Live(panel, console=console, refresh_per_second=4, transient=True) if tty else None

    last_bake: dict[str, object] = {}
    last_line_at = [clock.now()]

    def on_event(event: Event) -> None:
        if event.kind == "bake":
            # a bake poll is news only when a window completed or the judge changed its mind, or when
            # a minute passed without a line (a CI log that is silent for minutes looks hung)
            key = {"samples": event.data.get("samples"), "decision": event.data.get("decision"), "step": event.step}
            quiet = key == last_bake and event.at - last_line_at[0] < QUIET_LIMIT_SECONDS
            last_bake.clear()
            last_bake.update(key)
            if quiet and live is None:
                return
        last_line_at[0] = event.at
        line = event_line(target, event)
        if live is not None:
            panel.update(event)
            if event.kind != "bake":
                live.console.print(line, markup=False)
            live.refresh()
        else:
            print(line, file=out, flush=True)

    stop = threading.Event()
    engine = Engine(config, target, clients, clock, on_event=on_event, stop=stop, on_interrupt=on_interrupt)
    restore = _install_signals(stop, lambda: on_event(Event(clock.now(), EventKind.WARN, "interrupt received; stopping "
                                                          "now: nothing more is shifted, and traffic already shifted is "
                                                          + ("rolled back to stable" if on_interrupt == "rollback"
                                                             else "held where it is (paused)"))))
    try:
        if live is not None:
            with live:
                outcome = engine.auto_promote(revision=revision, image=image)
        else:
            outcome = engine.auto_promote(revision=revision, image=image)
    finally:
        restore()
    _finish(outcome, target, engine.lease.holder, report_path, out, annotate=not tty or bool(os.environ.get("GITHUB_ACTIONS")))
    return outcome.exit_code


def _finish(outcome: Outcome, target: Target, driver: str, report_path: str | None, out: IO[str], annotate: bool) -> None:
    print(f"{target.key}: {outcome.outcome} (exit {outcome.exit_code}) — {outcome.message}", file=out, flush=True)
    if outcome.exit_code != ExitCode.OK and annotate:  # a GitHub Actions annotation: noise on an operator's terminal
        level = "warning" if outcome.exit_code == ExitCode.HELD else "error"  # held: a question, not a failure
        print(f"::{level} title=vinconsole {target.key} {outcome.outcome}::{outcome.message}", file=out, flush=True)
    if report_path:
        Path(report_path).write_text(json.dumps(report_json(outcome, target.env, target.service, driver), indent=2) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown_summary(outcome, target.env, target.service))


def _install_signals(stop: threading.Event, announce: Callable[[], None]) -> Callable[[], None]:
    """First SIGINT/SIGTERM: ask the engine to stop safely. Second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        announce()

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore
