"""The `/` filter on the fleet and service screens: filters as you type, enter keeps it, esc clears it
(and only a second esc leaves the screen)."""

from __future__ import annotations

from screens.fleet import FleetScreen
from screens.service import ServiceScreen
from tests.screens.conftest import SIZE, wait_for
from widgets.filter_box import FilterBox
from widgets.fleet_table import FleetTable
from widgets.revisions_table import RevisionsTable


def keys(table) -> list[str]:
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def test_fleet_filter_keeps_on_enter_and_clears_on_escape(emulator, make_app):
    app = make_app(emulator(seed=0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.current is not None)
        screen = app.screen
        table = screen.query_one(FleetTable)
        await wait_for(pilot, lambda: table.row_count == 4, what="four services")
        await pilot.press("slash", *"prod")
        await wait_for(pilot, lambda: table.row_count == 2, what="typing filters")
        assert all(key.startswith("production/") for key in keys(table))
        await pilot.press("enter")  # keep the filter, hide the box, back on the list
        await pilot.pause(0.1)
        box = screen.query_one(FilterBox)
        assert not box.has_class("shown") and table.has_focus and table.row_count == 2
        assert "filter: prod" in str(screen.query_one("#banner").render())
        await pilot.press("escape")  # clears it; still on the fleet
        await wait_for(pilot, lambda: table.row_count == 4, what="filter cleared")
        assert isinstance(app.screen, FleetScreen) and table.has_focus and box.value == ""


async def test_jump_to_an_environment_filters_the_fleet(emulator, make_app):
    app = make_app(emulator(seed=0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.current is not None)
        table = app.screen.query_one(FleetTable)
        app.jump("env:staging")
        await wait_for(pilot, lambda: table.row_count == 2, what="staging only")
        assert all(key.startswith("staging/") for key in keys(table))


async def test_service_filter_then_escape_twice_goes_back(emulator, make_app):
    app = make_app(emulator(seed=0), env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen) and app.screen.current is not None)
        service = app.screen
        table = service.query_one(RevisionsTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="three revisions")
        await pilot.press("slash", *"v1.6.12")  # an image: the narrow table hides it, the filter still matches it
        await wait_for(pilot, lambda: table.row_count == 1, what="one revision")
        await pilot.press("escape")  # clears the filter first
        await wait_for(pilot, lambda: table.row_count == 3, what="filter cleared")
        assert app.screen is service
        await pilot.press("escape")  # then back to the fleet
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="back on the fleet")
