"""The built-in emulator: Cloud Run Admin v2, Monitoring v3 and Logging v2 on one local port.

`Emulator` and `SCENARIOS` are imported lazily (they pull in grpc), so that importing
`console.emulator.fleet` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.server import SCENARIOS, Emulator, run_forever

__all__ = ["Emulator", "SCENARIOS", "run_forever"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from console.emulator import server

        return getattr(server, name)
    raise AttributeError(f"module 'console.emulator' has no attribute {name!r}")
