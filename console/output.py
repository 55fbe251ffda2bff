"""Rich output of the headless commands (status, history): sized to what reads it.

In a pipe or a CI log there is no terminal width to respect, and Rich's default of 80 columns
would squeeze every table cell to '…': print as wide as the content needs instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_WIDTH = 400


def print_view(render: Callable[[int | None], Any]) -> None:
    """`render(width)` → a renderable; width is the terminal's, or None when there is none."""
    from rich.console import Console

    console = Console()
    if console.is_terminal:
        console.print(render(console.width))
        return
    renderable = render(None)
    needed = console.measure(renderable, options=console.options.update_width(MAX_WIDTH)).maximum
    Console(width=max(80, min(needed, MAX_WIDTH))).print(renderable)
