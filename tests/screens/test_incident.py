"""Pilot tests of the incident screen on the emulator's `incident` scenario (real Google clients, ManualClock)."""

from __future__ import annotations

import pytest

from console.gcp.run import CloudRun
from screens.incident import ErrorEntryScreen, IncidentScreen
from screens.modals import ConfirmTraffic
from tests.screens.conftest import SIZE, wait_for
from widgets.error_groups import ErrorGroupsTable
from widgets.format import age, pct
from widgets.incident_table import IncidentTable
from widgets.timeline import TimelineChart

PROD_BACKEND = ("vinsight-prod", "us-central1", "vinsight-backend")


def served(clients) -> dict[str, int]:
    return CloudRun(clients).get_service(*PROD_BACKEND).served_split()


@pytest.fixture
def incident_app(emulator, make_app):
    def make(**options):
        emu = emulator(scenario="incident", history=True)
        options.setdefault("refresh_seconds", None)  # one read unless the test asks for more
        return make_app(emu, start="incident", **options)

    return make


async def loaded(pilot, app) -> IncidentScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, IncidentScreen) and app.screen.detail is not None,
                   what="the incident screen's first read")
    return app.screen


def cell(table, row: int, column: str) -> str:
    value = table.get_row_at(row)[list(table.columns).index(column)]
    return getattr(value, "plain", str(value))


async def test_ranks_the_paging_service_first_with_since_timeline_errors_and_entry(incident_app):
    app = incident_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, app)
        table = screen.query_one(IncidentTable)
        assert table.row_count == 4
        assert table.get_row_at(0) and table.coordinate_to_cell_key((0, 0)).row_key.value == "production/vinsight-backend"
        assert cell(table, 0, "alert") == "✖ page"
        assert "ago)" in cell(table, 0, "since")  # since when
        assert cell(table, 0, "burn 1h").startswith("✖ ")
        assert "↑" in cell(table, 0, "5xx now (day baseline)") and "(0.40 %)" in cell(table, 0, "5xx now (day baseline)")
        assert all(cell(table, i, "alert") == "● ok" for i in (1, 2, 3))
        # "5xx now" of the selected service from the request log, seconds old, beside Monitoring's 5 minutes
        headline = " ".join(str(screen.query_one("#headline").render()).split())
        key = "production/vinsight-backend"
        recent = screen.recent[key]
        assert app.clock.now() - recent.until <= 20, headline
        rate, errors = recent.service_last_minute()
        assert rate > 10 and 0.02 < errors < 0.15  # the incident's ≈ 6 % over the last minute
        assert "in the last minute (request log, " in headline and "over 5 min vs 0.40 % over the trailing day" in headline
        # the table's "5xx now" is the same stream for every service whose request log flows, with its age
        await wait_for(pilot, lambda: all(" log " in cell(table, i, "5xx now (day baseline)") for i in range(4)),
                       timeout=40, what="every row's 5xx now from the request log")
        now_cell, (fraction, data_age) = cell(table, 0, "5xx now (day baseline)"), screen.previous_stream[key]
        assert now_cell.startswith(pct(fraction)) and now_cell.endswith(f"log {age(data_age)}") and data_age <= 20, now_cell
        # the last known good revision is named, with the reason, beside the key that rolls back to it
        good = screen.detail.last_good
        lastgood = str(screen.query_one("#lastgood").render())
        assert good.revision.split("vinsight-backend-")[1] in lastgood
        assert "served 100 %" in lastgood and "r rolls back to it" in lastgood
        # the timeline: 1 h of minute windows; the release's promote marker where the errors begin
        chart = screen.query_one(TimelineChart)
        assert chart.view.span == "1h" and chart.view.period == 60
        rendered = str(chart.render())
        assert "markers" in rendered and "P" in rendered.split("markers", 1)[1].splitlines()[0]
        assert "errors began" in rendered and "promote" in rendered and "operator:alice" in rendered
        # span switch: 6 → 6 h (3 min windows), ] → 24 h, [ → back to 6 h
        await pilot.press("6")
        await wait_for(pilot, lambda: chart.view.span == "6h", timeout=40, what="6 h timeline")
        assert chart.view.period == 180 and screen.detail.timeline.span == "6h"
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: chart.view.span == "24h", timeout=40, what="24 h timeline")
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: chart.view.span == "6h", timeout=40, what="back to 6 h")
        # error groups: the distinct messages with counts; enter shows a whole entry with its stack trace
        errors = screen.query_one(ErrorGroupsTable)
        assert errors.row_count >= 3
        messages = {cell(errors, i, "message") for i in range(errors.row_count)}
        assert any("ZeroDivisionError" in m for m in messages) and any("ValidationError" in m for m in messages)
        errors.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorEntryScreen), what="the entry")
        text = str(app.screen.query_one("#entry-text").render())
        assert "Traceback (most recent call last):" in text and 'File "' in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="back on the incident screen")


async def test_rollback_needs_the_typed_name_then_moves_traffic_to_the_last_good(incident_app):
    app = incident_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, app)
        before = served(app.clients)
        good = screen.detail.last_good.revision
        assert good not in before
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        assert good in str(app.screen.plan)
        await pilot.press(*"vinsight-frontend", "enter")  # the wrong name
        await wait_for(pilot, lambda: app.screen is screen, what="modal closed")
        await pilot.pause(0.3)
        assert served(app.clients) == before
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press(*"vinsight-backend", "enter")
        await wait_for(pilot, lambda: served(app.clients) == {good: 100}, what="100 % to the last known good")
        await wait_for(pilot, lambda: not screen.busy, what="the rollback to finish")
        assert any("rolled back" in (n.title or "") for n in app._notifications)
        # the screen reads again after the action: the serving column shows the rollback
        short = good.split("vinsight-backend-")[1]
        table = screen.query_one(IncidentTable)
        await wait_for(pilot, lambda: cell(table, table.get_row_index("production/vinsight-backend"), "serving") == f"{short} 100 %",
                       what="the new split on screen")


async def test_read_only_has_no_rollback_key_and_the_palette_refuses(incident_app):
    app = incident_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, app)
        before = served(app.clients)
        shown = {binding.action for _, binding, enabled, _ in app.active_bindings.values() if binding.show}
        assert "rollback" not in shown and "span_6h" in shown
        await pilot.press("r")
        await pilot.pause(0.3)
        assert not any(isinstance(s, ConfirmTraffic) for s in app.screen_stack)
        from screens.commands import ActionCommands

        labels = [label for label, _, _ in ActionCommands(screen)._commands()]
        assert "incident: span_6h" in labels and "incident: rollback" not in labels
        await screen.run_action("rollback")  # called anyway: check_action refuses it
        screen.action_rollback()  # and the action itself refuses, saying why
        await pilot.pause(0.3)
        assert not any(isinstance(s, ConfirmTraffic) for s in app.screen_stack)
        assert any("read-only" in n.message for n in app._notifications)
        assert "read-only" in str(screen.query_one("#lastgood").render())
        assert served(app.clients) == before


async def test_live_tail_bumps_the_counts_of_new_entries(incident_app, manual_clock):
    app = incident_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, app)
        counts = {g.signature: g.count for g in screen.detail.errors}
        await wait_for(pilot, lambda: screen.tail is not None, what="the tail")
        # the tail opens in its own thread whenever it gets there: let traffic (≈ 6 % errors) flow until it sees some
        def flowing() -> bool:
            if screen.tail_state == "live" and screen.tail_new > 0:
                return True
            manual_clock.advance(5)
            return False

        await wait_for(pilot, flowing, what="tailed entries")
        await wait_for(pilot, lambda: "live tail" in str(screen.query_one("#tail").render()), what="tail state shown")
        bumped = [g for g in screen.detail.errors if g.count > counts.get(g.signature, 0)]
        assert bumped and all(g.last_seen > screen._tail_cutoff for g in bumped)
        await wait_for(pilot, lambda: "↑" in cell(screen.query_one(ErrorGroupsTable), 0, "count")
                       or any("↑" in cell(screen.query_one(ErrorGroupsTable), i, "count")
                              for i in range(screen.query_one(ErrorGroupsTable).row_count)), what="↑ on a bumped group")


async def test_the_ranked_list_fits_a_100_column_terminal_with_every_burn_rate_and_p95(incident_app):
    app = incident_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await loaded(pilot, app)
        table = screen.query_one(IncidentTable)
        await wait_for(pilot, lambda: table.row_count == 4, what="four services")
        assert table.headers == IncidentTable.NARROW_COLUMNS
        # burn 6h and p95 are on screen, not off to the right (widths are measured when the table idles)
        await wait_for(pilot, lambda: table.max_scroll_x == 0, what="no sideways scrolling")
        assert cell(table, 0, "env/service").split("\n") == ["production ⚑", "vinsight-backend"]
        assert cell(table, 0, "burn 6h").endswith("×")
        # "serving" left the table; the selected service's headline still names it.
        assert "serving" not in table.headers
        assert "serving 00064-rzr 100 %" in str(screen.query_one("#headline").render())
