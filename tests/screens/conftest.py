"""TUI tests: the real app on the in-process emulator (fixtures shared with tests/console/emulator)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

from tests.console.emulator.conftest import clients_for, emulator, manual_clock, repo_config  # noqa: F401

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

SIZE = (160, 48)


def fast_config(config):
    """Short bakes so that an automatic rollout decides within a few seconds on a fast clock."""
    return config.model_copy(update={"rollout": config.rollout.model_copy(update={"bake_seconds": 120, "max_bake_seconds": 300})})


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


@pytest.fixture
def make_app(repo_config, clients_for, manual_clock):  # noqa: F811
    """`make_app(emu, clock=None, config=None, **options)` → a VinconsoleApp on that emulator."""
    from screens.app import create_app

    def make(emu, clock=None, config=None, **options):
        options.setdefault("refresh_seconds", 0.5)
        options.setdefault("ticking", False)
        options.setdefault("month_to_date", False)
        options.setdefault("banner", "vinconsole test")
        return create_app(config or repo_config, clients_for(emu), clock or manual_clock, **options)

    return make


async def settle_for_snapshot(pilot) -> None:
    """Let the first paint finish, then repaint every table once: a DataTable can keep a header line
    painted before its rows' widths were measured (seen about once in 20 runs on a loaded machine);
    the app repaints on its next read, a one-read snapshot would keep it."""
    from textual.widgets import DataTable

    await pilot.pause(0.5)
    await pilot.wait_for_scheduled_animations()
    for table in pilot.app.screen.query(DataTable):
        table.refresh()
    await pilot.pause(0.1)
