"""Tables fit the terminal: every column when wide; on 100 columns the fleet takes two-line rows and a
service's revisions drop their secondary columns, so nothing scrolls sideways."""

from __future__ import annotations

from screens.fleet import FleetScreen
from screens.service import ServiceScreen
from tests.screens.conftest import wait_for
from widgets.fleet_table import FleetTable
from widgets.revisions_table import RevisionsTable
from widgets.sparks import RevisionSparks


async def test_fleet_table_switches_to_two_line_rows_that_fit_a_100_column_terminal(emulator, make_app):
    app = make_app(emulator(seed=0))
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.current is not None)
        table = app.screen.query_one(FleetTable)
        await wait_for(pilot, lambda: table.row_count == 4, what="four services")
        assert table.headers == FleetTable.COLUMNS
        await wait_for(pilot, lambda: table.max_scroll_x == 0, what="no sideways scrolling")

        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: table.headers == FleetTable.NARROW_COLUMNS, what="narrow columns")
        assert table.row_count == 4  # redrawn from what was shown, not emptied until the next read
        # every column visible without scrolling sideways (widths are measured when the table idles)
        await wait_for(pilot, lambda: table.max_scroll_x == 0, what="no sideways scrolling")
        name = table.get_row_at(0)[1].plain
        assert name.split("\n") == ["staging", "vinsight-backend"]
        cost = table.get_row_at(0)[-1].plain.split("\n")  # per hour over the month so far
        assert cost[0].endswith("/h") and cost[1].endswith(" month")

        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: table.headers == FleetTable.COLUMNS, what="full columns again")
        assert table.get_row_at(0)[1].plain == "staging/vinsight-backend"


async def test_revisions_table_drops_secondary_columns_on_a_100_column_terminal(emulator, make_app):
    app = make_app(emulator(seed=0), env="staging", service="vinsight-backend")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen) and app.screen.current is not None)
        table = app.screen.query_one(RevisionsTable)
        await wait_for(pilot, lambda: table.row_count >= 2, what="revisions")
        assert table.headers == RevisionsTable.NARROW_COLUMNS
        await wait_for(pilot, lambda: table.max_scroll_x == 0, what="no sideways scrolling")
        assert {"traffic", "ready", "5xx", "p95"} <= set(table.headers)  # what a step is judged on stays
        # The image left the table: the stable and candidate panels name theirs.
        titles = [str(panel.border_title) for panel in app.screen.query(RevisionSparks)]
        assert any("backend:v1.6.12" in title for title in titles), titles

        table.move_cursor(row=1)
        selected = table.selected_key
        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: table.headers == RevisionsTable.COLUMNS, what="every column")
        assert table.selected_key == selected  # the redraw keeps the operator's row


async def test_history_table_fits_a_100_column_terminal(emulator, make_app):
    from screens.history import HistoryScreen
    from widgets.history_table import RolloutsTable

    app = make_app(emulator(seed=0, history=True), start="history")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.history is not None, timeout=20)
        table = app.screen.query_one(RolloutsTable)
        await wait_for(pilot, lambda: table.row_count > 10, what="rollouts")
        assert table.headers == RolloutsTable.NARROW_COLUMNS
        await wait_for(pilot, lambda: table.max_scroll_x == 0, what="no sideways scrolling")
        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: table.headers == RolloutsTable.COLUMNS, what="every column")
        await wait_for(pilot, lambda: table.max_scroll_x == 0, what="no sideways scrolling at 160")
