"""One way to write each quantity, for the CLI tables, the reports and the screens alike.

Pure functions of their argument (no clock, no I/O, no Rich): a 5xx rate, a latency, a cost or a
likelihood ratio reads the same in `vinconsole status`, the step summary and the terminal UI.
A missing value is '—' (never 0), except `iso`, which returns None for JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

MISSING = "—"


def pct(fraction: float | None, digits: int = 2) -> str:
    """A 0..1 fraction as a percent: '0.42 %'."""
    return MISSING if fraction is None else f"{fraction * 100:.{digits}f} %"


def ms(value: float | None) -> str:
    """A latency: '471 ms', or '12.3 s' from ten seconds on."""
    if value is None:
        return MISSING
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:.0f} ms"


def rate(value: float | None) -> str:
    """Requests per second: '38.2/s', '412/s'."""
    if value is None:
        return MISSING
    return f"{value:.0f}/s" if value >= 100 else f"{value:.1f}/s"


def usd(value: float | None, digits: int | None = None) -> str:
    """Dollars with as many digits as the amount needs ('$3.70', '$0.0953', '$0.000821')."""
    if value is None:
        return MISSING
    if digits is None:
        digits = 2 if abs(value) >= 1 else 4 if abs(value) >= 0.001 else 6
    return f"${value:,.{digits}f}"


def age(seconds: float | None) -> str:
    """How long ago, in its largest whole unit: '42s', '7m', '3h', '5d'."""
    if seconds is None:
        return MISSING
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h"
    return f"{seconds // 86400:.0f}d"


def mmss(seconds: float | None) -> str:
    """A bake or countdown: '4:05'."""
    if seconds is None:
        return MISSING
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def minutes(value: float | None) -> str:
    """A DORA duration: '9.5 min'."""
    return MISSING if value is None else f"{value:.1f} min"


def ratio(x: float | None) -> str:
    """A likelihood ratio or ψ bound: '0.03', '12.40', '1,250', '2.1e+07'."""
    if x is None:
        return MISSING
    if x >= 1e6:
        return f"{x:.1e}"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}"


@overload
def iso(seconds: float) -> str: ...
@overload
def iso(seconds: None) -> None: ...
@overload
def iso(seconds: float | None) -> str | None: ...
def iso(seconds: float | None) -> str | None:
    """A moment for JSON and logs: '2026-12-01T09:18:00Z'."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def utc_time(at: float, seconds: bool = False) -> str:
    """A moment as the UTC clock shows it: '09:18' (or '09:18:05'); the view implies the date."""
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S" if seconds else "%H:%M")
