"""Emulator fixtures for every test under tests/console (defined in tests/console/emulator/conftest.py)."""

from tests.console.emulator.conftest import clients_for, emulator, manual_clock, repo_config  # noqa: F401
