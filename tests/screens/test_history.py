"""Pilot tests of the history screen (rollouts and DORA figures) and of reaching both new screens from the fleet."""

from __future__ import annotations

from screens.fleet import FleetScreen
from screens.history import HistoryScreen
from screens.incident import IncidentScreen
from tests.screens.conftest import SIZE, wait_for
from widgets.dora import DoraPanel
from widgets.history_table import RolloutDetail, RolloutsTable


def plain(widget) -> str:
    """What a Static shows, as text (rich renderables rendered at 200 columns)."""
    import io

    from rich.console import Console

    console = Console(width=200, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.file.getvalue()


async def test_h_and_i_from_the_fleet_open_history_and_incident(emulator, make_app):
    emu = emulator(scenario="incident", history=True)
    app = make_app(emu, refresh_seconds=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen.current is not None, what="fleet")
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.history is not None, what="history")
        screen = app.screen
        table = screen.query_one(RolloutsTable)
        history = screen.history
        assert len(history.rollouts) >= 30 and table.row_count == len(history.rollouts)
        # newest first; every row names candidate, stable, driver, outcome with its symbol, steps with verdicts
        newest = max(history.rollouts, key=lambda r: r.started)
        assert table.selected is newest
        outcomes = {table.get_row_at(i)[5].plain for i in range(table.row_count)}
        assert "✔ promoted" in outcomes and "↺ rolled back" in outcomes
        steps = " ".join(table.get_row_at(i)[6].plain for i in range(table.row_count))
        assert "✖" in steps and "✔" in steps
        drivers = {table.get_row_at(i)[4].plain.split(" ")[0] for i in range(table.row_count)}
        assert drivers == {"CI", "op"}
        assert any(table.get_row_at(i)[9] != "—" for i in range(table.row_count))  # a time to restore
        # the four DORA figures beside the targets, per service and overall, marked met / not met
        dora = plain(screen.query_one(DoraPanel))
        for words in ("deploys / week", "lead time (target < 10 min)", "change failure rate (target < 5%)",
                      "time to restore (target < 15 min)", "overall", "production/vinsight-backend"):
            assert words in dora
        assert "✔ " in dora and "✖ " in dora
        # the selected rollout's steps with their verdicts
        rolled = next(r for r in reversed(history.rollouts) if r.outcome == "rolled_back" and r.kind == "rollout" and r.steps)
        # / filters: only the rolled back ones
        await pilot.press("slash", *"rolled_back", "enter")
        await wait_for(pilot, lambda: 0 < table.row_count < len(history.rollouts), what="filtered rows")
        assert all(r.outcome == "rolled_back" for r in table.rollouts.values())
        assert rolled in table.rollouts.values()
        await pilot.press("escape")  # clears the filter
        await wait_for(pilot, lambda: table.row_count == len(history.rollouts), what="filter cleared")
        # span switch: 7 d
        await pilot.press("7")
        await wait_for(pilot, lambda: screen.history is not history and screen.span == "7d", what="7 d read")
        assert screen.history.until - screen.history.since == 7 * 86400
        assert len(screen.history.rollouts) < len(history.rollouts)
        await pilot.press("escape")  # back to the fleet
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="fleet again")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen) and app.screen.detail is not None, what="incident")
        assert app.screen.selected == "production/vinsight-backend"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), what="fleet after the incident view")


async def test_history_step_verdicts_in_the_detail(emulator, make_app):
    emu = emulator(scenario="incident", history=True)
    app = make_app(emu, refresh_seconds=None, start="history")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen) and app.screen.history is not None, what="history")
        screen = app.screen
        table = screen.query_one(RolloutsTable)
        target = next(i for i in range(table.row_count) if "✖" in table.get_row_at(i)[6].plain)
        table.move_cursor(row=target)
        await pilot.pause(0.2)
        detail = plain(screen.query_one(RolloutDetail))
        assert "✖ fail" in detail and "↺ rolled back" in detail
