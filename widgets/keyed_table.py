"""A row-cursor DataTable whose rows carry string keys, so a redraw can put the cursor back."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable


class KeyedTable(DataTable):
    """Subclasses set COLUMNS and redraw with clear() + add_row(..., key=...), then select_key()."""

    COLUMNS: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)

    def on_mount(self) -> None:
        self.set_columns(self.COLUMNS)

    def set_columns(self, columns: tuple[str, ...]) -> None:
        """Show these columns (rows are cleared when they change; redraw after)."""
        if tuple(c.label.plain for c in self.ordered_columns) == columns:
            return
        self.clear(columns=True)
        for column in columns:
            self.add_column(column, key=column or "_")

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
