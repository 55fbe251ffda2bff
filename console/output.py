"""Rich output of the headless commands (status, history, cost): sized to what reads it.

In a pipe or a CI log there is no terminal width to respect, and Rich's default of 80 columns
would squeeze every table cell to '…': print as wide as the content needs instead, and as plain
aligned columns without box drawing (like gcloud and kubectl), so `grep`, `awk` and `cut` work.
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
    _plain(renderable)
    needed = console.measure(renderable, options=console.options.update_width(MAX_WIDTH)).maximum
    Console(width=max(80, min(needed, MAX_WIDTH))).print(renderable)


def _plain(renderable: Any) -> None:
    """Tables in `renderable` (or in a Group of them) lose their box lines, keeping aligned columns."""
    from rich.console import Group
    from rich.table import Table

    if isinstance(renderable, Group):
        for part in renderable.renderables:
            _plain(part)
    elif isinstance(renderable, Table):
        renderable.box = None
        renderable.show_edge = False
        renderable.pad_edge = False
