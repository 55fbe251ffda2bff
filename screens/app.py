"""The vinconsole terminal app: one factory for the CLI, the tests and the benchmark (posting's pattern)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import App

from console.clock import Clock
from console.config import Config, Target
from console.gcp.clients import Clients
from console.status import FleetStatus
from screens.bindings import APP_BINDINGS, DESCRIPTIONS
from screens.commands import ActionCommands
from screens.data import FleetData, MonthToDate
from screens.modals import HelpScreen
from widgets.palette import ALARM, tone_theme

if TYPE_CHECKING:
    from console.engine import Engine
    from console.rollout.events import Outcome
    from screens.service import ServiceScreen

DEFAULT_REFRESH_SECONDS = 5.0
MONTH_REFRESH_SECONDS = 60.0


class VinconsoleApp(App[None]):
    TITLE = "vinconsole"
    COMMANDS = App.COMMANDS | {ActionCommands}
    BINDINGS = APP_BINDINGS
    CSS_PATH = "vinconsole.tcss"  # screen layouts; widgets keep their scoped DEFAULT_CSS

    def __init__(
        self,
        config: Config,
        clients: Clients,
        clock: Clock,
        *,
        read_only: bool = False,
        env: str | None = None,
        service: str | None = None,
        banner: str | None = None,
        refresh_seconds: float | None = DEFAULT_REFRESH_SECONDS,
        ticking: bool = True,
        month_to_date: bool = True,
        start: str = "fleet",
    ):
        super().__init__()
        self.config = config
        self.clients = clients  # the engine's: patient, for traffic changes and rollouts
        self.view_clients = clients.for_views()  # the screens' reads: give up within seconds
        self.clock = clock
        self.read_only = read_only
        self.start_env = env
        self.start_service = service
        self.banner = banner or f"vinconsole — {getattr(clients, 'target', 'Google Cloud')}"
        self.refresh_seconds = refresh_seconds  # None: read once (snapshots)
        self.ticking = ticking  # False: the data age does not tick (snapshots)
        self.month_enabled = month_to_date
        self.start = start  # the first screen: fleet | incident | history
        self.cost_margin = config.budget.candidate_cost_margin_percent / 100
        self.data = FleetData(config, self.view_clients, clock, log_clients=clients)  # one request-log tail with the engine
        self.targets: list[Target] = config.targets(env) if env and not service else config.targets()
        self.fleet: FleetStatus | None = None  # the newest snapshot any view read
        self.month: MonthToDate | None = None
        self._month_lock = threading.Lock()
        self._month_mono = 0.0
        if config.keys:
            self.set_keymap(dict(config.keys))
        self.console.push_theme(tone_theme(self.get_css_variables()))

    def watch_theme(self) -> None:
        """Recolour every tone (widgets.palette) from the new theme's variables, then redraw what is on top
        (text already converted for display keeps its colours until drawn again)."""
        from screens.live import LiveScreen

        self.console.pop_theme()
        self.console.push_theme(tone_theme(self.get_css_variables()))
        top = self.screen_stack[-1] if self.screen_stack else None  # none yet while the app starts
        if isinstance(top, LiveScreen):
            top.refresh_soon()

    def month_if_due(self, fleet: FleetStatus | None) -> MonthToDate | None:
        """Worker threads only: read month-to-date spend when it is due (one reader at a time).

        Returns the new figures, or None when they are fresh enough."""
        if not self.month_enabled:
            return None
        with self._month_lock:  # a second reader waits, then finds the figures fresh
            if self.month is not None and time.monotonic() - self._month_mono < MONTH_REFRESH_SECONDS:
                return None
            month = self.data.month_to_date(self.targets if self.start_service is None else self.config.targets(), fleet)
            self._month_mono = time.monotonic()
            self.month = month
            return month

    # ------------------------------------------------------------------ screens

    def on_mount(self) -> None:
        from screens.fleet import FleetScreen

        self.push_screen(FleetScreen())
        if self.start == "incident":
            self.open_incident()
        elif self.start == "history":
            self.open_history()
        elif self.start_service:
            env = self.start_env or next(t.env for t in self.config.targets(service=self.start_service))
            self.open_service(f"{env}/{self.start_service}")

    def target(self, key: str) -> Target:
        env, service = key.split("/", 1)
        return self.config.targets(env, service)[0]

    def open_service(self, key: str) -> None:
        from screens.service import ServiceScreen

        target = self.target(key)
        if isinstance(self.screen, ServiceScreen):
            if self.screen.target.key == key:
                return
            self.pop_screen()
        # Installed, so that leaving a service keeps its screen (and a rollout it drives) alive.
        name = f"service:{key}"
        if not self.is_screen_installed(name):
            self.install_screen(ServiceScreen(target), name)
        self.push_screen(name)

    def open_incident(self) -> None:
        """The on-call incident view (one at a time; its log tail stops when it is closed)."""
        from screens.incident import IncidentScreen

        if isinstance(self.screen, IncidentScreen):
            return
        self.push_screen(IncidentScreen())

    def open_history(self) -> None:
        from screens.history import HistoryScreen

        if isinstance(self.screen, HistoryScreen):
            return
        self.push_screen(HistoryScreen())

    def service_screens(self) -> list[ServiceScreen]:
        from screens.service import ServiceScreen

        return [s for s in self._installed_screens.values() if isinstance(s, ServiceScreen)]

    async def action_quit(self) -> None:
        """Quit; while this console drives a rollout, ask first: hold it (paused: traffic held, lease
        released), roll it back, or cancel. Never abandoned half-way."""
        from screens.modals import QuitDuringRollout

        driving = [s for s in self.service_screens() if s.auto_running]
        if not driving:
            self.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice in (QuitDuringRollout.HOLD, QuitDuringRollout.ROLLBACK):
                self.run_worker(self._quit_driving(driving, choice), exclusive=True, group="quit")

        self.push_screen(QuitDuringRollout([s.target.key for s in driving]), chosen)

    async def _quit_driving(self, driving: list[ServiceScreen], choice: str) -> None:
        from screens.modals import QuitDuringRollout

        rolled_back: dict[str, Outcome] = {}
        failed: dict[str, str] = {}  # what the rollback raised, and the traffic it left
        if choice == QuitDuringRollout.ROLLBACK:
            # the rollback wins over this console's own rollout, which stops by itself at its next read
            self.notify("rolling back before quitting…", severity="warning")
            for screen in driving:
                engine = screen._engine(stop=threading.Event())
                try:
                    rolled_back[screen.target.key] = await asyncio.to_thread(engine.rollback_now)
                except Exception as error:  # noqa: BLE001 - said on the way out, with the traffic it left
                    screen.stop.set()  # at least hold it where it is
                    screen.last_outcome = None
                    self.notify(f"{screen.target.key}: rollback failed: {error}", severity="error")
                    failed[screen.target.key] = f"{error}; {await asyncio.to_thread(_serving_now, engine)}"
        else:
            self.notify("pausing the automatic rollout before quitting…", severity="warning")
            for screen in driving:
                screen.last_outcome = None
                screen.stop.set()
        for _ in range(100):
            if not any(s.busy for s in driving):
                break
            await asyncio.sleep(0.1)
        self.exit(message="\n".join(_where_left(s, rolled_back, failed) for s in driving) or None)

    def jump_choices(self) -> list[tuple[str, str]]:
        choices = [(t.key, t.key) for t in self.config.targets()]
        choices += [(f"env:{name}", f"environment {name}") for name in self.config.environments]
        return choices

    def jump(self, value: str | None) -> None:
        from screens.fleet import FleetScreen
        from screens.service import ServiceScreen

        if not value:
            return
        if value.startswith("env:"):
            while isinstance(self.screen, ServiceScreen):
                self.pop_screen()
            if isinstance(self.screen, FleetScreen):
                self.screen.set_filter(value[4:])
            return
        self.open_service(value)

    # ------------------------------------------------------------------ keys

    def action_help(self) -> None:
        screen = self.screen
        rows = []
        seen = set()
        for binding in list(getattr(screen, "BINDINGS", [])) + list(APP_BINDINGS):
            action = binding.action
            if action in seen or not screen.check_action(action, ()) and not self.check_action(action, ()):
                continue
            seen.add(action)
            description = DESCRIPTIONS.get(binding.id or action, binding.description)
            rows.append((self._keys_for(binding), description, binding.id or ""))
        notes: list[str | Text] = ["j / k or ↓ / ↑ move the cursor in a list."]
        if self.read_only:
            notes.append("READ-ONLY: every action that changes traffic is hidden and refused.")
        notes.append(Text.assemble(("⚑ PRODUCTION", ALARM), (
            " marks a production environment (production = true in config.toml): every traffic change there asks "
            "for the service name to be typed, then enter.", "dim")))
        notes.append("State is shown as a symbol plus colour: ● ok  ▲ warning  ✖ bad  ◆ in progress  ? no data; ↑/↓ mark values that moved.")
        self.push_screen(HelpScreen(f"keys — {getattr(screen, 'HELP_TITLE', 'vinconsole')}", rows, notes))

    def _keys_for(self, binding: Any) -> str:
        keymap = getattr(self, "_keymap", None) or {}
        keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
        names = {"question_mark": "?", "slash": "/", "colon": ":", "escape": "esc"}
        return ", ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


def create_app(config: Config, clients: Clients, clock: Clock, **options: Any) -> VinconsoleApp:
    """The app the CLI runs and the tests drive. `options`: VinconsoleApp's keywords (read_only, env,
    service, banner, refresh_seconds, ticking, month_to_date, start: "fleet", "incident" or "history")."""
    return VinconsoleApp(config, clients, clock, **options)


def run_tui(config: Config, clients: Clients, clock: Clock, **options: Any) -> int:
    """Run the TUI in this terminal until the operator quits; `options` as for create_app."""
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    app = create_app(config, clients, clock, **options)
    app.run()
    return app.return_code or 0


def _serving_now(engine: Engine) -> str:
    """What a service serves, read afresh (a failed rollback may have moved traffic before it failed)."""
    from console.model import describe_split

    t = engine.target
    try:
        return f"it now serves {describe_split(engine.run.get_service(t.project, t.region, t.service).served_split())}"
    except Exception as error:  # noqa: BLE001 - the quit message says it could not tell
        return f"its traffic could not be read ({error})"


def _where_left(screen: ServiceScreen, rolled_back: dict[str, Outcome], failed: dict[str, str]) -> str:
    """Printed after the screen is gone: where the rollout this console drove was left, and what to run."""
    key, t = screen.target.key, screen.target
    check = f"check it with `vinconsole status --env {t.env} --service {t.service}`"
    if key in rolled_back:
        return f"{key}: rolled back — {rolled_back[key].message}"
    if key in failed:
        return f"{key}: the rollback before quitting failed: {failed[key]}; {check}, and roll back with " \
               f"`vinconsole rollback --env {t.env} --service {t.service}`"
    if screen.last_outcome is not None:
        return f"{key}: {screen.last_outcome.message}"
    return f"{key}: the automatic rollout was still pausing when the console quit; {check}"
