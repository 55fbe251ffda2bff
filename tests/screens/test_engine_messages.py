"""Each engine event reaches a screen as the message of its kind; facts come from the event's data, not its text."""

from __future__ import annotations

import pytest

from console.rollout.events import Event
from console.rollout.outcomes import EventKind
from screens.engine_messages import (
    AuditNotWritten,
    EngineError,
    EngineEvent,
    Held,
    Judged,
    Promoted,
    RolledBack,
    RolloutMoved,
    SmokeChecked,
    Stopped,
    engine_message,
)


@pytest.mark.parametrize(
    ("kind", "message_type"),
    [
        (EventKind.START, RolloutMoved),
        (EventKind.RESUME, RolloutMoved),
        (EventKind.TRAFFIC, RolloutMoved),
        (EventKind.BAKE, Judged),
        (EventKind.VERDICT, Judged),
        (EventKind.SMOKE, SmokeChecked),
        (EventKind.ROLLBACK, RolledBack),
        (EventKind.PROMOTE, Promoted),
        (EventKind.HOLD, Held),
        (EventKind.STOPPED, Stopped),
        (EventKind.ERROR, EngineError),
        (EventKind.WARN, EngineEvent),
        (EventKind.WRITTEN, EngineEvent),
        (EventKind.NOOP, EngineEvent),
    ],
)
def test_each_kind_becomes_its_message_carrying_the_event(kind, message_type):
    event = Event(at=0.0, kind=kind, message="m")
    message = engine_message(event)
    assert type(message) is message_type and message.event is event


def test_an_audit_warning_is_told_by_its_data_key_not_its_text():
    says_audit = Event(at=0.0, kind=EventKind.WARN, message="audit entry 'lease' not written")
    flagged = Event(at=0.0, kind=EventKind.WARN, message="anything", data={"audit_not_written": True})
    assert type(engine_message(says_audit)) is EngineEvent
    assert type(engine_message(flagged)) is AuditNotWritten
