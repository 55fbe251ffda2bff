"""The one clock the engine and the emulator read time from.

With `VINCONSOLE_TIME_SCALE=N` and `VINCONSOLE_TIME_EPOCH=T` set, time runs
`T + N × (real_now − T)`, so production-length windows and bakes pass in seconds, and two
processes that share the variables share the same simulated time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping

SCALE_ENV = "VINCONSOLE_TIME_SCALE"
EPOCH_ENV = "VINCONSOLE_TIME_EPOCH"


class Clock:
    """Real or scaled wall-clock time, in unix seconds."""

    def __init__(self, scale: float = 1.0, epoch: float | None = None):
        if scale <= 0:
            raise ValueError(f"time scale must be positive, not {scale}")
        self.scale = float(scale)
        self.epoch = float(time.time() if epoch is None else epoch)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Clock:
        environ = os.environ if environ is None else environ
        raw_scale = environ.get(SCALE_ENV)
        if not raw_scale:
            return cls()
        try:
            scale = float(raw_scale)
        except ValueError:
            raise ValueError(f"{SCALE_ENV}={raw_scale!r} is not a number") from None
        raw_epoch = environ.get(EPOCH_ENV)
        try:
            epoch = float(raw_epoch) if raw_epoch else None
        except ValueError:
            raise ValueError(f"{EPOCH_ENV}={raw_epoch!r} is not unix seconds") from None
        return cls(scale, epoch)

    @property
    def scaled(self) -> bool:
        return self.scale != 1.0

    def now(self) -> float:
        return self.epoch + self.scale * (time.time() - self.epoch)

    def sleep(self, seconds: float) -> None:
        """Sleep for `seconds` of clock time."""
        if seconds > 0:
            time.sleep(seconds / self.scale)

    def real_seconds(self, seconds: float) -> float:
        """How long `seconds` of clock time take on the wall."""
        return seconds / self.scale

    def environ(self) -> dict[str, str]:
        """The variables that put another process on this same clock."""
        if not self.scaled:
            return {}
        return {SCALE_ENV: repr(self.scale), EPOCH_ENV: repr(self.epoch)}


class ManualClock(Clock):
    """A clock that moves only when told to (or when slept on): for deterministic tests."""

    def __init__(self, start: float = 1_800_000_000.0):
        super().__init__(1.0, start)
        self._now = float(start)
        self._lock = threading.Lock()

    @property
    def scaled(self) -> bool:
        return True

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
        time.sleep(0)

    def real_seconds(self, seconds: float) -> float:
        return 0.0

    def environ(self) -> dict[str, str]:
        raise RuntimeError("a ManualClock cannot be shared with another process")
