"""How the console writes numbers, states and changes: pure functions, no Textual, no I/O.

Every state is written as a symbol plus a word or a colour, never colour alone (k9s).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from console.units import age, mmss, ms, pct, rate, usd, utc_time  # noqa: F401 - the screens' formatters, shared with the CLI
from widgets.palette import ACTIVE, ALARM, BAD, OK, WARN

#: health → (symbol, style). The symbol carries the meaning; the colour only helps.
HEALTH = {
    "ok": ("●", OK),
    "warn": ("▲", WARN),
    "bad": ("✖", ALARM),
    "unknown": ("?", "dim"),
    "busy": ("◆", ACTIVE),
}

PHASE = {
    "smoke": ("◆", ACTIVE, "smoke checks"),
    "baking": ("◆", ACTIVE, "baking"),
    "paused": ("‖", WARN, "paused"),
    "promoted": ("✔", OK, "promoted"),
    "rolled_back": ("↺", ALARM, "rolled back"),
    "aborted": ("■", WARN, "aborted"),
}

UP, DOWN = "↑", "↓"


def short_revision(name: str, service: str | None = None) -> str:
    """'vinsight-backend-00055-evi' → '00055-evi' when the service name is known."""
    if service and name.startswith(service + "-"):
        return name[len(service) + 1 :]
    return name


def short_image(image: str) -> str:
    """The last path part with its tag: 'backend:v1.6.13'."""
    return image.rsplit("/", 1)[-1] if image else "—"


_API_FAILURE = re.compile(r"^(?P<call>\w+)(?:\([^)]*\))? failed: (?P<code>[A-Z][A-Z_]+)")


def error_brief(error: str, width: int) -> str:
    """'ListServices: PERMISSION_DENIED' from an ApiError's text (the full text is in the status line),
    else the text cut to `width`."""
    match = _API_FAILURE.match(error)
    brief = f"{match['call']}: {match['code']}" if match else error
    return brief if len(brief) <= width else brief[: width - 1] + "…"


def trend(new: float | None, old: float | None, *, relative: float = 0.10, absolute: float = 0.0) -> str:
    """'↑' or '↓' when a value moved by more than `relative` (and more than `absolute`), else ''."""
    if new is None or old is None:
        return ""
    delta = new - old
    if abs(delta) <= absolute:
        return ""
    if old == 0:
        return UP if delta > 0 else ""
    if abs(delta) / abs(old) <= relative:
        return ""
    return UP if delta > 0 else DOWN


def with_trend(text: str, mark: str, bad_when_up: bool = True) -> Text:
    """A value followed by its trend mark, the mark coloured by whether the move is bad."""
    out = Text(text)
    if mark:
        bad = (mark == UP) == bad_when_up
        out.append(" " + mark, style=BAD if bad else OK)
    else:
        out.append("  ")
    return out


def health_text(level: str, word: str | None = None, symbol_only: bool = False) -> Text:
    """'● ok', '▲ degraded': a symbol of its own per level, so it never rests on colour alone."""
    symbol, style = HEALTH.get(level, HEALTH["unknown"])
    return Text(symbol if symbol_only else f"{symbol} {word or level}", style=style)


def rollout_text(
    rollout: Mapping[str, Any] | None, now: float, bake_seconds: float, max_bake_seconds: float, short: bool = False
) -> Text:
    """'◆ at 10 % baking 1:40 of 5:00' ('◆ 10 %' over '1:40/5:00' when short), '✔ promoted', '↺ rolled back', 'idle'."""
    if not rollout:
        return Text("idle", style="dim")
    if "error" in rollout:
        return Text("? " + str(rollout["error"]), style=WARN)
    phase = str(rollout.get("phase", "?"))
    symbol, style, word = PHASE.get(phase, ("?", WARN, phase))
    percent = rollout.get("percent", 0)
    if phase == "baking":
        baked = now - float(rollout.get("step_started") or now)
        limit = max_bake_seconds * (2 if rollout.get("extended") else 1) if baked > bake_seconds else bake_seconds
        if short:
            return Text(f"{symbol} {percent} %\n{mmss(baked)}/{mmss(limit)}", style=style)
        return Text(f"{symbol} at {percent} % baking {mmss(baked)} of {mmss(limit)}", style=style)
    if phase == "smoke":
        return Text(f"{symbol} smoke" if short else f"{symbol} smoke checks", style=style)
    if phase == "paused":
        return Text(f"{symbol} paused at {percent} %", style=style)
    return Text(f"{symbol} {word}", style=style)


def service_name(env: str, service: str, production: bool, two_lines: bool = False) -> Text:
    """'production/vinsight-backend ⚑' (⚑: production), or env ⚑ over service on two lines."""
    flag = Text(" ⚑", style=ALARM) if production else Text("")
    if two_lines:
        return Text.assemble(env, flag, "\n", service)
    return Text.assemble(f"{env}/{service}", flag)


def split_text(split: Mapping[str, int], service: str | None = None, separator: str = " · ") -> str:
    """'00054-jif 90 % · 00055-evi 10 %' in descending percent."""
    if not split:
        return "no traffic"
    ordered = sorted(split.items(), key=lambda item: (-item[1], item[0]))
    return separator.join(f"{short_revision(rev, service)} {p} %" for rev, p in ordered)


def window_age(window_end: float | None, now: float | None, source: str = "") -> str:
    """How old the newest complete window behind the figures is: Cloud Monitoring is minutes behind
    the traffic split, the request log seconds, and this says by how much and which it is."""
    if window_end is None or now is None:
        return ""
    if source:
        return f"{source} to {utc_time(window_end, seconds=True)} UTC, {age(max(0.0, now - window_end))} old"
    return f"figures to {utc_time(window_end)} UTC, {age(max(0.0, now - window_end))} old"
