"""Every key binding, with an id so that `[keys]` in config.toml can remap it (id = "key,key2").

Traffic-changing actions are listed in TRAFFIC_ACTIONS: `--read-only` hides their keys, drops them
from the command palette and refuses them if called anyway.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

TRAFFIC_ACTIONS = frozenset({"step", "split", "auto", "pause", "promote", "rollback"})

# list[BindingType]: the type Textual declares BINDINGS with (a list is invariant), so a screen's
# `BINDINGS = FLEET_BINDINGS` type-checks as is.
APP_BINDINGS: list[BindingType] = [
    Binding("q", "quit", "quit", id="quit"),
    Binding("question_mark", "help", "help", id="help", key_display="?"),
]

FLEET_BINDINGS: list[BindingType] = [
    Binding("enter", "open", "open", id="open"),
    Binding("slash", "filter", "filter", id="filter", key_display="/"),
    Binding("colon", "jump", "jump", id="jump", key_display=":"),
    Binding("escape", "back", "clear filter", id="back", show=False),
    Binding("ctrl+r", "refresh", "refresh", id="refresh", show=False),
    Binding("i", "incident", "incident", id="incident"),
    Binding("h", "history", "history", id="history"),
]

SERVICE_BINDINGS: list[BindingType] = [
    Binding("s", "step", "step", id="step"),
    Binding("c", "split", "custom split", id="split"),
    Binding("t", "smoke", "smoke", id="smoke"),  # footer words are short: `?` has the whole story
    Binding("a", "auto", "auto", id="auto"),
    Binding("space", "pause", "pause", id="pause"),
    Binding("p", "promote", "promote", id="promote"),
    Binding("r", "rollback", "roll back", id="rollback"),
    Binding("slash", "filter", "filter", id="filter", key_display="/", show=False),
    Binding("colon", "jump", "jump", id="jump", key_display=":", show=False),
    Binding("escape", "back", "back", id="back"),
    Binding("ctrl+r", "refresh", "refresh", id="refresh", show=False),
]

INCIDENT_BINDINGS: list[BindingType] = [
    Binding("r", "rollback", "roll back to last good", id="rollback"),
    Binding("1", "span_1h", "1 h", id="span_1h"),
    Binding("6", "span_6h", "6 h", id="span_6h"),
    Binding("2", "span_24h", "24 h", id="span_24h"),
    Binding("left_square_bracket", "span_shorter", "shorter", id="span_shorter", key_display="[", show=False),
    Binding("right_square_bracket", "span_longer", "longer", id="span_longer", key_display="]", show=False),
    Binding("e", "entry", "error entry", id="entry"),
    Binding("o", "open", "open service", id="open_service"),
    Binding("colon", "jump", "jump", id="jump", key_display=":", show=False),
    Binding("escape", "back", "back", id="back"),
    Binding("ctrl+r", "refresh", "refresh", id="refresh", show=False),
]

HISTORY_BINDINGS: list[BindingType] = [
    Binding("slash", "filter", "filter", id="filter", key_display="/"),
    Binding("7", "since_7d", "7 d", id="since_7d"),
    Binding("3", "since_30d", "30 d", id="since_30d"),
    Binding("9", "since_90d", "90 d", id="since_90d"),
    Binding("left_square_bracket", "span_shorter", "shorter", id="span_shorter", key_display="[", show=False),
    Binding("right_square_bracket", "span_longer", "longer", id="span_longer", key_display="]", show=False),
    Binding("escape", "back", "back", id="back"),
    Binding("ctrl+r", "refresh", "refresh", id="refresh", show=False),
]

#: Which key hints the footer keeps when the terminal is too narrow for all of them, most important
#: first: the way out of trouble (roll back), help, back and quit, then the actions of a rollout.
HINT_PRIORITY = (
    "rollback", "help", "back", "quit", "open", "step", "promote", "auto", "pause", "filter", "smoke", "split",
    "incident", "history", "open_service", "entry", "jump",
)

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
    "rollback": "roll back: a service to stable or a chosen revision; the incident view to the last known good revision",
    "incident": "the on-call incident view: what is broken, since when, which revision",
    "history": "release history and the DORA figures beside the team's targets",
    "span_1h": "timeline over the last hour",
    "span_6h": "timeline over the last 6 hours",
    "span_24h": "timeline over the last 24 hours",
    "span_shorter": "a shorter span",
    "span_longer": "a longer span",
    "entry": "the whole log entry (stack trace) of the selected error group",
    "open_service": "open the selected service's screen",
    "since_7d": "history of the last 7 days",
    "since_30d": "history of the last 30 days",
    "since_90d": "history of the last 90 days",
    "quit": "quit",
    "help": "this help",
}
