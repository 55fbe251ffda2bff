"""Command palette entries for every action of the view underneath (none that change traffic in --read-only)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens.bindings import DESCRIPTIONS, TRAFFIC_ACTIONS


class ActionCommands(Provider):
    def _commands(self) -> list[tuple[str, str, object]]:
        screen = self.screen
        app = self.app
        actions = getattr(screen, "PALETTE_ACTIONS", ())
        out = []
        for action in actions:
            if action in TRAFFIC_ACTIONS and getattr(app, "read_only", False):
                continue
            label = f"{getattr(screen, 'PALETTE_PREFIX', '')}{action}"
            out.append((label, DESCRIPTIONS.get(action, action), partial(screen.run_action, action)))
        for value, label in getattr(app, "jump_choices", lambda: [])():
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
