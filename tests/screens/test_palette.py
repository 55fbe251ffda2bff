"""Colours come from the theme: widgets style text by meaning (widgets.palette), the app resolves
each meaning from the Textual theme's variables, and a theme change recolours the screen."""

from __future__ import annotations

import pathlib
import re

from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from tests.screens.conftest import wait_for
from widgets.fleet_table import FleetTable
from widgets.palette import ALARM, BADGE, OK, TONES, tone_theme

ROOT = pathlib.Path(__file__).resolve().parents[2]
COLOUR_LITERAL = re.compile(
    r"""["'](?:[a-z ]+ )?(?:red|green|yellow|cyan|magenta|blue|white|black|bright_\w+|grey\d*|#[0-9a-fA-F]{3,8})["']"""
    r"""|\[/?(?:bold )?(?:red|green|yellow|cyan|magenta|blue)\]"""
)


class Drawn(Widget):
    """Draws its text afresh on every repaint, as the status line and panels do."""

    DEFAULT_CSS = "Drawn { height: 1; }"

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def render(self) -> Text:
        return self.text


def test_no_widget_or_screen_names_a_colour():
    """Every colour goes through a tone; a literal like "red" would ignore the theme."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in ("screens", "widgets")
        for path in sorted((ROOT / folder).glob("*.py"))
        if path.name != "palette.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if COLOUR_LITERAL.search(line)
    ]
    assert offenders == []


def test_each_tone_is_its_theme_variable_with_its_text_style():
    variables = {"background": "#000000", "warning": "#ffaa00", "text-success": "#00ff00", "text-warning": "#ffff00",
                 "text-error": "#ff0000", "text-primary": "#0000ff", "text-secondary": "#0000aa", "text-accent": "#ff00ff"}
    theme = tone_theme(variables)
    assert theme.styles[OK].color.name.lower() == "#00ff00" and not theme.styles[OK].bold
    assert theme.styles[ALARM].color.name.lower() == "#ff0000" and theme.styles[ALARM].bold
    assert theme.styles[BADGE].bgcolor.name.lower() == "#ffaa00" and theme.styles[BADGE].color.name.lower() == "#000000"
    assert set(TONES) <= set(theme.styles)


async def test_a_theme_change_recolours_what_is_on_screen(emulator, make_app):
    app = make_app(emulator())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(FleetTable), what="the fleet")
        whole, span = Drawn(Text("healthy", style=OK)), Drawn(Text.assemble("x ", ("healthy", OK)))
        await app.screen.mount(whole, span)  # Textual resolves a whole text's style, the console a span's
        await pilot.pause()

        def drawn() -> tuple[str, str]:
            return tuple(  # type: ignore[return-value]
                next(seg.style.color.name.lower() for seg in probe.render_line(0) if "healthy" in seg.text)
                for probe in (whole, span))

        def expected() -> str:
            variables = app.get_css_variables()
            colour = (Color.parse(variables["background"]) + Color.parse(variables["text-success"])).hex.lower()
            return colour, colour

        before = drawn()
        assert before == expected()
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await wait_for(pilot, lambda: drawn() != before, what="the new theme's colour on screen")
        assert drawn() == expected()
