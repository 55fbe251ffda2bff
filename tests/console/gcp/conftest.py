from tests.console.emulator.conftest import clients_for, emulator, manual_clock, repo_config  # noqa: F401
