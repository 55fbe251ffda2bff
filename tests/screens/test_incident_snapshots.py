"""SVG snapshots of the incident and history screens: ManualClock, fixed seed, one read, no ticking data age.

Update with `pytest tests/screens/test_incident_snapshots.py --snapshot-update` after checking the SVGs by eye.
"""

from __future__ import annotations

import pytest

from screens.history import HistoryScreen
from screens.incident import IncidentScreen
from tests.screens.conftest import settle_for_snapshot, wait_for


@pytest.fixture
def frozen(emulator, make_app):
    def make(**options):
        emu = emulator(scenario="incident", seed=0, history=True)
        return make_app(emu, refresh_seconds=None, ticking=False, **options)

    return make


def _loaded(app) -> bool:
    screen = app.screen
    if isinstance(screen, IncidentScreen):
        return screen.detail is not None and screen.tail_state == "connecting"
    if isinstance(screen, HistoryScreen):
        return screen.history is not None
    return False


async def _settle(pilot) -> None:
    await wait_for(pilot, lambda: _loaded(pilot.app), timeout=60, what="first read")  # seconds on a busy 2-core CI machine
    await settle_for_snapshot(pilot)


def test_incident_screen(snap_compare, frozen):
    assert snap_compare(frozen(start="incident"), terminal_size=(160, 48), run_before=_settle)


def test_incident_screen_read_only_small_terminal(snap_compare, frozen):
    assert snap_compare(frozen(start="incident", read_only=True), terminal_size=(100, 30), run_before=_settle)


def test_history_screen(snap_compare, frozen):
    assert snap_compare(frozen(start="history"), terminal_size=(160, 48), run_before=_settle)
