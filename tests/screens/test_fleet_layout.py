"""The fleet table fits the terminal: full rows when wide, two-line rows without scrolling sideways when narrow."""

from __future__ import annotations

from screens.fleet import FleetScreen
from tests.screens.conftest import wait_for
from widgets.fleet_table import FleetTable


def _headers(table: FleetTable) -> tuple[str, ...]:
    return tuple(column.label.plain for column in table.ordered_columns)


async def test_fleet_table_switches_to_two_line_rows_that_fit_a_100_column_terminal(emulator, make_app):
    app = make_app(emulator(seed=0))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.current is not None)
        table = app.screen.query_one(FleetTable)
        await wait_for(pilot, lambda: table.row_count == 4, what="four services")
        assert _headers(table) == FleetTable.COLUMNS
        assert table.max_scroll_x == 0

        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: _headers(table) == FleetTable.NARROW_COLUMNS, what="narrow columns")
        await pilot.pause(0.2)
        assert table.row_count == 4  # redrawn from what was shown, not emptied until the next read
        assert table.max_scroll_x == 0  # every column visible without scrolling sideways
        name = table.get_row_at(0)[1].plain
        assert name.split("\n") == ["staging", "vinsight-backend"]
        assert "month" not in _headers(table)  # the fleet's month to date stays below the table

        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: _headers(table) == FleetTable.COLUMNS, what="full columns again")
        assert table.get_row_at(0)[1].plain == "staging/vinsight-backend"
