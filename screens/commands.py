"""Command palette entries for every action of the view underneath (none that change traffic in --read-only)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.bindings import DESCRIPTIONS, TRAFFIC_ACTIONS

if TYPE_CHECKING:
    from screens.app import VinconsoleApp

#: (label, help text, what runs when it is chosen)
Command = tuple[str, str, Callable[[], Any]]


class ActionCommands(Provider):
    def _commands(self) -> list[Command]:
        screen = self.screen
        app = cast("VinconsoleApp", self.app)  # the only app that lists this provider (VinconsoleApp.COMMANDS)
        actions = getattr(screen, "PALETTE_ACTIONS", ())
        out: list[Command] = []
        for action in actions:
            if action in TRAFFIC_ACTIONS and app.read_only:
                continue
            label = f"{getattr(screen, 'PALETTE_PREFIX', '')}{action}"
            out.append((label, DESCRIPTIONS.get(action, action), partial(screen.run_action, action)))
        for value, label in app.jump_choices():
            out.append((f"go to {label}", "jump", partial(app.jump, value)))
        return out

    async def discover(self) -> Hits:
        for label, help_text, callback in self._commands():
            yield DiscoveryHit(label, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for label, help_text, callback in self._commands():
            score = max(matcher.match(label), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(label), callback, help=help_text)
