"""An unreachable API is shown within seconds, while the engine keeps its own patience."""

from __future__ import annotations

from console.gcp.clients import RETRY_DEADLINE, VIEW_RETRY_DEADLINE
from screens.fleet import FleetScreen
from tests.screens.conftest import SIZE, wait_for
from widgets.status_line import StatusLine


async def test_fleet_shows_an_unreachable_api_in_the_status_line_within_seconds(emulator, make_app):
    emu = emulator()
    emu.inject_fault("ListServices", "UNAVAILABLE", times=10_000)
    app = make_app(emu, month_to_date=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen))
        status = app.screen.query_one(StatusLine)
        # The engine's reads would retry for RETRY_DEADLINE (20 s); a screen's give up sooner,
        # and the month-to-date read is not tried while the fleet itself is unreadable.
        await wait_for(pilot, lambda: bool(status.error), timeout=RETRY_DEADLINE - 5, what="the API error")
        assert "ListServices" in status.error
        assert app.month is None
        assert status.data_age is None  # nothing was read: no age that looks fresh
        rows = app.screen.query_one("#fleet")
        assert all(rows.get_row_at(i)[0].plain.endswith("unreadable") for i in range(rows.row_count))


def test_views_share_the_engines_connections_but_give_up_sooner(emulator, clients_for):
    clients = clients_for(emulator())
    views = clients.for_views()
    assert views.services is clients.services  # one channel, one set of clients
    assert views.retry_deadline == VIEW_RETRY_DEADLINE < clients.retry_deadline == RETRY_DEADLINE
    assert views.read_timeout < clients.read_timeout


async def test_a_failing_read_counts_down_to_its_retry_and_wraps_the_whole_error(emulator, make_app):
    emu = emulator()
    emu.inject_fault("ListServices", "PERMISSION_DENIED", times=10_000)
    app = make_app(emu)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen))
        status = app.screen.query_one(StatusLine)
        await wait_for(pilot, lambda: bool(status.error), what="the API error")
        first = status.retry_in
        assert first is not None and first > 0
        await pilot.pause(0.6)
        app.screen.tick()  # the app's 1 s ticker; tests tick by hand
        assert status.retry_in is not None and status.retry_in < first
        # The error names what to fix; on 100 columns it wraps onto more lines instead of being cut.
        await pilot.pause(0.1)
        assert status.size.height > 1
        shown = "".join(segment.text for y in range(status.size.height) for segment in status.render_line(y))
        assert status.error.split()[-1] in shown
