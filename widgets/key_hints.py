"""The footer's key hints, chosen by priority to fit the width (k9s and htop keep the keys that
matter visible on any terminal; Textual's Footer cuts off whatever comes last)."""

from __future__ import annotations

from collections.abc import Sequence

from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PALETTE_ROOM = 12  # "^p palette" on the right


def choose_hints(hints: Sequence[tuple[str, str, str]], priority: Sequence[str], width: int) -> list[str]:
    """The actions to show, in their own order, picked in `priority` order (unlisted actions after the
    listed ones, in their own order) while they fit `width`. `hints`: (action, key shown, description)."""
    rank = {action: index for index, action in enumerate(priority)}
    order = sorted(range(len(hints)), key=lambda i: (rank.get(hints[i][0], len(rank)), i))
    shown: set[int] = set()
    used = 0
    for index in order:
        _, key, description = hints[index]
        cost = len(key) + len(description) + 3  # FooterKey pads the key by one cell each side, the description after
        if used + cost <= width:
            shown.add(index)
            used += cost
    return [hints[i][0] for i in sorted(shown)]


class KeyHints(Footer):
    """A Footer that leaves out the least important keys instead of the last ones (`?` lists them all)."""

    def __init__(self, priority: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.priority = tuple(priority)
        self._composed_width = 0

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        width = self.size.width or self.app.size.width
        self._composed_width = width
        active = self.screen.active_bindings
        first: dict[str, tuple] = {}  # one hint per action, as Footer shows them
        for _node, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in first:
                first[binding.action] = (binding, enabled, tooltip)
        hints = [(action, self.app.get_key_display(b), b.description) for action, (b, _, _) in first.items()]
        palette = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        room = width - (PALETTE_ROOM if palette else 0)
        for action in choose_hints(hints, self.priority, room):
            binding, enabled, tooltip = first[action]
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            disabled=not enabled, tooltip=tooltip).data_bind(compact=Footer.compact)
        if palette and self.app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, tooltip = active[self.app.COMMAND_PALETTE_BINDING]
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            classes="-command-palette", disabled=not enabled,
                            tooltip=binding.tooltip or binding.description)

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and event.size.width != self._composed_width:
            self.call_after_refresh(self.recompose)
