"""The engine's events as Textual messages: one class per event kind a screen acts on.

The engine calls back on its worker thread; `engine_message(event)` wraps the event in the message
of its kind and the screen posts it to itself (`post_message` is thread-safe), then handles each
kind with `@on(...)`. Every message is an `EngineEvent`, so a handler on the base sees them all
(the events log). Kinds are matched on `EventKind`, facts on the event's structured `data`.
"""

from __future__ import annotations

from textual.message import Message

from console.rollout.events import Event
from console.rollout.outcomes import EventKind


class EngineEvent(Message, bubble=False):
    """An engine event the screen only logs (and the base of every engine message)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class RolloutMoved(EngineEvent):
    """Traffic or the rollout state changed (a start, a resume, a write served): read the service again."""


class Judged(EngineEvent):
    """A bake's figures or a verdict of the judge."""


class SmokeChecked(EngineEvent):
    """Smoke checks: a run starting against a URL (data `checks_url`) or one check's result (data `result`)."""


class RolledBack(EngineEvent):
    pass


class Promoted(EngineEvent):
    pass


class Held(EngineEvent):
    """The rollout is paused: traffic held where it is."""


class Stopped(EngineEvent):
    """Someone else changed the service: the engine stopped without writing."""


class EngineError(EngineEvent):
    pass


class AuditNotWritten(EngineEvent):
    """A warning that an audit entry could not be written yet (data `audit_not_written`)."""


_BY_KIND: dict[EventKind, type[EngineEvent]] = {
    EventKind.START: RolloutMoved,
    EventKind.RESUME: RolloutMoved,
    EventKind.TRAFFIC: RolloutMoved,
    EventKind.BAKE: Judged,
    EventKind.VERDICT: Judged,
    EventKind.SMOKE: SmokeChecked,
    EventKind.ROLLBACK: RolledBack,
    EventKind.PROMOTE: Promoted,
    EventKind.HOLD: Held,
    EventKind.STOPPED: Stopped,
    EventKind.ERROR: EngineError,
}


def engine_message(event: Event) -> EngineEvent:
    """The message for this event: its kind's class, or the plain `EngineEvent` for kinds only logged."""
    if event.kind == EventKind.WARN and event.data.get("audit_not_written"):
        return AuditNotWritten(event)
    return _BY_KIND.get(EventKind(event.kind), EngineEvent)(event)
