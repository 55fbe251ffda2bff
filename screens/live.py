"""The refresh loop every live view shares (dolphie's pattern).

A subclass supplies `read()` (runs in a worker thread: all the I/O) and `apply(data)` (runs on the
UI thread: draws). One read is in flight per view; the next is scheduled only once the previous has
finished. An API error is shown in the status line and retried with a backoff, never a crash.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from textual import work
from textual.screen import Screen
from textual.timer import Timer

from widgets.status_line import StatusLine

if TYPE_CHECKING:
    from screens.app import VinconsoleApp

ERROR_BACKOFF = (2.0, 5.0, 10.0, 30.0)
SOON_SECONDS = 0.05  # "read again now", through the timer so that reads never overlap


class LiveScreen(Screen):
    """A screen that keeps its data fresh. Subclasses call `start_reading()` at the end of on_mount."""

    def __init__(self) -> None:
        super().__init__()
        self._read_mono: float | None = None
        self._retry_mono: float | None = None  # when the next read after a failure is due
        self._timer: Timer | None = None
        self._failures = 0
        self._loading = False
        self._again = False

    @property
    def vapp(self) -> VinconsoleApp:
        """The app, typed: Textual declares `app` as App[object], which knows none of vinconsole's
        attributes (and a property cannot narrow it), so the cast is made once, here."""
        return cast("VinconsoleApp", self.app)

    # ------------------------------------------------------------ the subclass's part

    def read(self) -> Any:
        """Worker thread: read everything the view shows; an exception is shown and retried."""
        raise NotImplementedError

    def apply(self, data: Any) -> str | None:
        """UI thread: draw what `read` returned; return an error the data carries (retried), or None."""
        raise NotImplementedError

    def next_delay(self) -> float | None:
        """Seconds until the next read after a good one; None reads once (snapshots)."""
        return self.vapp.refresh_seconds

    def showing(self) -> bool:
        """Whether a timed read should run now: by default only while this view is on top."""
        return self.is_current

    # ------------------------------------------------------------------ the loop

    def start_reading(self) -> None:
        status = self.query_one(StatusLine)
        status.read_only = self.vapp.read_only
        if self.vapp.ticking:
            self.set_interval(1.0, self.tick)
        self.load()

    @work(thread=True, exclusive=True, group="refresh")
    def load(self) -> None:
        self._loading = True
        try:
            data = self.read()
            self.vapp.call_from_thread(self._loaded, data)
        except Exception as error:  # noqa: BLE001 - never crash on an API failure: show it, retry
            self.vapp.call_from_thread(self._failed, str(error))
        finally:
            self._loading = False

    def refresh_soon(self) -> None:
        """Read again now, or right after the read in flight (one read at a time)."""
        if self._loading:
            self._again = True
        else:
            self._schedule(SOON_SECONDS)

    def mark_fresh(self) -> None:
        """The data on screen was just read: its age starts again from zero."""
        self._read_mono = time.monotonic()
        self.query_one(StatusLine).data_age = 0.0

    def tick(self) -> None:
        status = self.query_one(StatusLine)
        now = time.monotonic()
        if self._read_mono is not None:
            status.data_age = now - self._read_mono
        if self._retry_mono is not None and status.error:
            status.retry_in = max(0.0, self._retry_mono - now)  # counts down to "retrying now"

    def _loaded(self, data: Any) -> None:
        if not self.is_attached:
            return
        error = self.apply(data)
        if error:
            self._failed(error)
            return
        self._failures = 0
        self._retry_mono = None
        status = self.query_one(StatusLine)
        status.error = None
        status.retry_in = None
        self._next(self.next_delay())

    def _failed(self, error: str) -> None:
        if not self.is_attached:
            return
        self._failures += 1
        backoff = ERROR_BACKOFF[min(self._failures - 1, len(ERROR_BACKOFF) - 1)]
        delay = backoff if self.vapp.refresh_seconds is not None else None
        status = self.query_one(StatusLine)
        status.error = error
        status.retry_in = delay
        self._retry_mono = None if delay is None else time.monotonic() + delay
        self._next(delay)

    def _next(self, delay: float | None) -> None:
        if self._again:
            self._again = False
            self._schedule(SOON_SECONDS)
        else:
            self._schedule(delay)

    def _schedule(self, delay: float | None) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if delay is not None and self.is_attached:
            self._timer = self.set_timer(delay, self._timed)

    def _timed(self) -> None:
        self._timer = None
        if self.is_attached and self.showing():
            self.load()

    def on_screen_resume(self) -> None:
        self.query_one(StatusLine).read_only = self.vapp.read_only
        self.resumed()

    def resumed(self) -> None:
        """Back on top (Textual calls every class's on_screen_resume, so subclasses override this)."""
        if self._read_mono is not None and self._timer is None and not self._loading and self.vapp.refresh_seconds is not None:
            self.load()

    def action_refresh(self) -> None:
        self.refresh_soon()
