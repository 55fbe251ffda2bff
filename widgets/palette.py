"""Colours by meaning, from the Textual theme's variables: no widget or screen names a colour.

Each tone is a Textual style naming theme variables ("bold $text-error"). Textual resolves it against
the current theme wherever text carries it as its own style; for Rich spans and tables the console
looks the same string up in `tone_theme`, which the app pushes and renews on every theme change
(ctrl+p → theme). Borders and backgrounds use theme variables in CSS (`$error`) directly."""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from rich.theme import Theme
from textual.color import Color

OK = "$text-success"  # healthy, passed, within limits
OK_STRONG = "bold $text-success"
WARN = "$text-warning"  # near a limit, paused, held, unknown
WARN_STRONG = "bold $text-warning"
BAD = "$text-error"  # over a limit
ALARM = "bold $text-error"  # failed, rolled back, production
ACTIVE = "$text-primary"  # in progress: baking, smoke checks, a change under way
ACTIVE_STRONG = "bold $text-primary"
INFO = "$text-secondary"  # neutral markers: starts, verdicts, deploys
CHANGE = "$text-accent"  # traffic changes and promotions
CHANGE_STRONG = "bold $text-accent"
BADGE = "bold $background on $warning"  # a label that must not be missed (READ-ONLY)
TONES = (OK, OK_STRONG, WARN, WARN_STRONG, BAD, ALARM, ACTIVE, ACTIVE_STRONG, INFO, CHANGE, CHANGE_STRONG, BADGE)


def tone_theme(variables: Mapping[str, str]) -> Theme:
    """The tones as a Rich theme, coloured from a Textual theme's CSS variables.

    Textual resolves a tone's `$variable` itself where text carries it as its own style; Rich text's
    spans are resolved by the console, which looks the same string up in this theme first."""
    background = Color.parse(variables["background"])

    def colour(word: str) -> str:
        if not word.startswith("$"):
            return word
        return (background + Color.parse(variables[word[1:]])).hex  # translucent variables blended on the background

    return Theme({tone: Style.parse(" ".join(colour(word) for word in tone.split())) for tone in TONES})
