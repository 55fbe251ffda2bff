"""A row-cursor DataTable whose rows carry string keys, so a redraw can put the cursor back."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from textual.binding import Binding
from textual.widgets import DataTable

Show = TypeVar("Show", bound=Callable[..., Any])


class KeyedTable(DataTable):
    """Subclasses set COLUMNS and redraw with clear() + add_row(..., key=...), then select_key().

    A table that would scroll sideways on a small terminal sets NARROW_COLUMNS and NARROW_BELOW
    (cells) and decorates its `show` with `fits_width`: under that width it draws the narrow
    columns (its `show` reads `self.narrow`), and a resize across the limit redraws what was shown.
    """

    BINDINGS = [  # vi keys beside the arrows, as k9s and less take them
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
    ]
    COLUMNS: tuple[str, ...] = ()
    NARROW_COLUMNS: tuple[str, ...] | None = None
    NARROW_BELOW = 0

    def __init__(self, **kwargs: Any):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._redraw: Callable[[], Any] | None = None

    def on_mount(self) -> None:
        self.set_columns(self.COLUMNS)

    @property
    def narrow(self) -> bool:
        return self.NARROW_COLUMNS is not None and 0 < self.size.width < self.NARROW_BELOW

    @property
    def columns_for_width(self) -> tuple[str, ...]:
        return self.NARROW_COLUMNS if self.narrow and self.NARROW_COLUMNS is not None else self.COLUMNS

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(column.label.plain for column in self.ordered_columns)

    def set_columns(self, columns: tuple[str, ...]) -> None:
        """Show these columns (rows are cleared when they change; redraw after)."""
        if self.headers == columns:
            return
        self.clear(columns=True)
        for column in columns:
            self.add_column(column, key=column or "_")

    def add_cells(self, cells: Mapping[str, Any], key: str) -> None:
        """Add a row from cells named by column: the columns shown pick theirs, in order ('—' for one
        not given); narrow rows may take several lines."""
        self.add_row(*(cells.get(column, "—") for column in self.headers), key=key, height=None if self.narrow else 1)

    def on_resize(self) -> None:
        if self._redraw is not None and self.headers != self.columns_for_width:
            self._redraw()

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - an empty or shrunk table has no selection
            return None

    def select_key(self, key: str) -> bool:
        """Move the cursor to the row `key`; False when that row is gone (filtered out, resolved)."""
        try:
            index = self.get_row_index(key)
        except Exception:  # noqa: BLE001 - the row is gone
            return False
        self.move_cursor(row=index, animate=False)
        return True


def fits_width(show: Show) -> Show:
    """Decorate a KeyedTable's `show`: draw the columns that fit, and redraw the same on a resize."""

    @functools.wraps(show)
    def wrapper(self: KeyedTable, *args: Any, **kwargs: Any) -> Any:
        self._redraw = functools.partial(wrapper, self, *args, **kwargs)
        selected = self.selected_key
        columns = self.columns_for_width
        changed = self.headers != columns
        self.set_columns(columns)
        result = show(self, *args, **kwargs)
        if changed and selected is not None:
            self.select_key(selected)
        return result

    return wrapper  # type: ignore[return-value]
