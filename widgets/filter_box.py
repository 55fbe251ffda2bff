"""The `/` filter of a list screen: hidden until opened, filters as you type, enter keeps, esc clears.

The box only shows and hides itself; its screen listens to `Input.Changed` (redraw with the new
text) and `Input.Submitted` (focus the list again).
"""

from __future__ import annotations

from textual.widgets import Input


class FilterBox(Input):
    DEFAULT_CSS = """
    FilterBox { display: none; height: 3; }
    FilterBox.shown { display: block; }
    """

    def open(self, text: str) -> None:
        """Show the box holding the filter in force, ready to type."""
        self.add_class("shown")
        self.value = text
        self.cursor_position = len(text)
        self.focus()

    def clear_filter(self) -> bool:
        """Empty and hide the box; False when there was nothing to clear (esc then means "back")."""
        if not self.has_class("shown") and not self.value:
            return False
        self.remove_class("shown")
        self.value = ""
        return True

    def _on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is self:
            self.remove_class("shown")  # the filter stays in force; the screen focuses its list
