"""Month to date against the emulator on a manual clock: at a month start it counts only this month and
forecasts from the last day's rate, not from a window that reaches into the previous month."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.clock import ManualClock
from console.spend import SpendReader, month_seconds
from console.status import StatusReader


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("now", [at(2026, 12, 1, 2, 0), at(2027, 3, 1, 0, 30), at(2027, 2, 20, 15, 0)])
def test_month_to_date_counts_only_this_month_and_forecasts_near_the_fleets_rate(emulator, clients_for, repo_config, now):
    clock = ManualClock(start=now)
    emu = emulator(clock=clock)
    clients = clients_for(emu)
    fleet = StatusReader(repo_config, clients, clock).read(repo_config.targets())
    per_hour = sum(r.cost_per_hour or 0.0 for s in fleet.services for r in s.revisions)
    assert per_hour > 0

    month = SpendReader(repo_config, clients, clock).month_to_date(repo_config.targets(), fleet)

    hours_so_far = (now - datetime.fromtimestamp(now, UTC).replace(day=1, hour=0, minute=0).timestamp()) / 3600
    simulated_hours = min(hours_so_far, 25)  # the emulator simulates 25 h of history before it starts
    assert month.total <= per_hour * simulated_hours * 2
    assert month.total >= per_hour * simulated_hours / 2
    assert month.forecast is not None
    if hours_so_far < 72:
        assert month.forecast_basis == "the last 24 h's rate"
        whole_month = per_hour * month_seconds(now) / 3600
        assert whole_month / 2 <= month.forecast <= whole_month * 2
    else:
        assert month.forecast_basis == "the month so far"
