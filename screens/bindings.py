"""Every key binding, with an id so that `[keys]` in config.toml can remap it (id = "key,key2").

Traffic-changing actions are listed in TRAFFIC_ACTIONS: `--read-only` hides their keys, drops them
from the command palette and refuses them if called anyway.
"""

from __future__ import annotations

from textual.binding import Binding

TRAFFIC_ACTIONS = frozenset({"step", "split", "auto", "pause", "promote", "rollback"})

APP_BINDINGS = [
    Binding("q", "quit", "quit", id="quit"),
    Binding("question_mark", "help", "help", id="help", key_display="?"),
]

FLEET_BINDINGS = [
    Binding("enter", "open", "open", id="open"),
    Binding("slash", "filter", "filter", id="filter", key_display="/"),
    Binding("colon", "jump", "jump", id="jump", key_display=":"),
    Binding("escape", "back", "clear filter", id="back", show=False),
    Binding("ctrl+r", "refresh", "refresh", id="refresh", show=False),
]

SERVICE_BINDINGS = [
    Binding("s", "step", "step", id="step"),
    Binding("c", "split", "custom split", id="split"),
    Binding("t", "smoke", "smoke checks", id="smoke"),
    Binding("a", "auto", "auto rollout", id="auto"),
    Binding("space", "pause", "pause/resume", id="pause"),
    Binding("p", "promote", "promote", id="promote"),
    Binding("r", "rollback", "roll back", id="rollback"),
    Binding("slash", "filter", "filter", id="filter", key_display="/", show=False),
    Binding("colon", "jump", "jump", id="jump", key_display=":", show=False),
    Binding("escape", "back", "back", id="back"),
    Binding("ctrl+r", "refresh", "refresh", id="refresh", show=False),
]

#: What each action does, for the help screen and the command palette.
DESCRIPTIONS = {
    "open": "open the selected service",
    "filter": "filter the rows",
    "jump": "jump to a service or environment",
    "back": "back / clear the filter",
    "refresh": "refresh now",
    "step": "step the candidate to the next percent (starts a rollout, smoke checks first)",
    "split": "set a custom split for the candidate",
    "smoke": "run the smoke checks against the candidate's tag URL",
    "auto": "start (or resume) an automatic rollout driven by the engine",
    "pause": "pause / resume the automatic rollout (traffic held where it is)",
    "promote": "promote the candidate to 100 % now",
    "rollback": "roll back to stable or to a chosen revision",
    "quit": "quit",
    "help": "this help",
}
