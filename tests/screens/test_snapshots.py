"""SVG snapshots at a fixed size: fixed clock (ManualClock), fixed seed, one read, no ticking data age.

Update with `pytest tests/screens/test_snapshots.py --snapshot-update` after checking the SVGs by eye.
"""

from __future__ import annotations

import pytest

from screens.fleet import FleetScreen
from screens.service import ServiceScreen
from tests.screens.conftest import settle_for_snapshot, wait_for


@pytest.fixture
def frozen_app(emulator, make_app):
    def make(**options):
        emu = emulator(seed=0)
        return make_app(emu, refresh_seconds=None, ticking=False, month_to_date=True, **options)

    return make


def _loaded(app) -> bool:
    screen = app.screen
    if isinstance(screen, FleetScreen):
        return screen.current is not None and app.month is not None
    if isinstance(screen, ServiceScreen):
        return screen.current is not None and screen.series is not None and app.month is not None
    return False


async def _settle(pilot) -> None:
    await wait_for(pilot, lambda: _loaded(pilot.app), timeout=60, what="first read")  # seconds on a busy 2-core CI machine
    await settle_for_snapshot(pilot)


def test_fleet_screen(snap_compare, frozen_app):
    assert snap_compare(frozen_app(), terminal_size=(160, 48), run_before=_settle)


def test_fleet_screen_small_terminal(snap_compare, frozen_app):
    assert snap_compare(frozen_app(), terminal_size=(100, 30), run_before=_settle)


def test_service_screen(snap_compare, frozen_app):
    assert snap_compare(frozen_app(env="staging", service="vinsight-backend"), terminal_size=(160, 48), run_before=_settle)


def test_service_screen_read_only_small_terminal(snap_compare, frozen_app):
    app = frozen_app(env="production", service="vinsight-frontend", read_only=True)
    assert snap_compare(app, terminal_size=(100, 30), run_before=_settle)


def test_service_screen_100x30(snap_compare, frozen_app):
    """The size the first user tried: the production header whole, `r` and `?` among the key hints."""
    app = frozen_app(env="production", service="vinsight-backend")
    assert snap_compare(app, terminal_size=(100, 30), run_before=_settle)


def test_service_screen_80x24(snap_compare, frozen_app):
    app = frozen_app(env="production", service="vinsight-backend")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)
