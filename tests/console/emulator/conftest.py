"""Fixtures for tests that run the real Google client libraries against the in-process emulator.

    def test_something(emulator, clients_for):
        emu = emulator(scenario="regression")      # started, on a ManualClock
        clients = clients_for(emu)                 # console.gcp.clients.Clients on emu.address

`emu` / `clients` are the shortcut for one healthy emulator. Everything is stopped and closed
at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.clock import Clock, ManualClock
from console.config import Config, load_config
from console.emulator import Emulator
from console.gcp.clients import Clients

CONFIG_PATH = Path(__file__).parents[3] / "config.toml"


@pytest.fixture(scope="session")
def repo_config() -> Config:
    """The repository's config.toml (the VinSight fleet), staging stepped 10 → 50 → 100 like
    production: the tests drive the engine's steps there (the shipped staging goes 50 → 100)."""
    config = load_config(CONFIG_PATH)
    staging = config.environments["staging"]
    assert staging.rollout is not None and staging.rollout.steps == [50, 100]
    environments = {**config.environments, "staging": staging.model_copy(update={"rollout": None})}
    return config.model_copy(update={"environments": environments})


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator(repo_config: Config, manual_clock: ManualClock) -> Iterator[Callable[..., Emulator]]:
    """A factory: `emulator(scenario="healthy", clock=None, seed=0, config=None, history=False)` → a started
    Emulator.

    Without `clock`, the emulator runs on the test's `manual_clock` (advance it by hand); without
    `history=True`, its audit log starts empty.
    """
    started: list[Emulator] = []

    def make(
        scenario: str = "healthy",
        clock: Clock | None = None,
        seed: int = 0,
        config: Config | None = None,
        history: bool = False,
    ) -> Emulator:
        emu = Emulator(config or repo_config, scenario=scenario, clock=clock or manual_clock, seed=seed, history=history)
        emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def clients_for() -> Iterator[Callable[[Emulator], Clients]]:
    """A factory: `clients_for(emu)` → Clients(emulator_host=emu.address), closed at teardown."""
    made: list[Clients] = []

    def make(emu: Emulator) -> Clients:
        assert emu.address, "start the emulator first"
        clients = Clients(emulator_host=emu.address)
        made.append(clients)
        return clients

    yield make
    for clients in made:
        clients.close()


@pytest.fixture
def emu(emulator: Callable[..., Emulator]) -> Emulator:
    """One started emulator, scenario `healthy`, on `manual_clock`."""
    return emulator()


@pytest.fixture
def clients(emu: Emulator, clients_for: Callable[[Emulator], Clients]) -> Clients:
    return clients_for(emu)
