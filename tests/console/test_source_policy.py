"""[analysis] source: the request log while it flows and agrees with Monitoring, else Monitoring (pure)."""

from __future__ import annotations

import pytest

from console.source_policy import (
    FIRST_ENTRY_GRACE_SECONDS,
    STALL_SECONDS,
    Source,
    WindowCheck,
    choose_source,
    disagreement,
)

NOW = 1_800_000_000.0


def choose(policy="auto", *, looked=0.0, stable_seen=NOW - 3, newest=None, checks=()):
    return choose_source(policy, now=NOW, looking_since=NOW - looked, stable="svc-00001-abc",
                         stable_last_received=stable_seen, service_last_received=newest, checks=checks)


def test_auto_uses_the_log_when_stable_entries_flow():
    assert choose() .source == Source.LOGS and choose().reason is None


def test_auto_waits_for_stable_entries_then_falls_back_and_says_why():
    waiting = choose(looked=FIRST_ENTRY_GRACE_SECONDS - 1, stable_seen=None)
    assert waiting.source == Source.LOGS and waiting.waiting
    fallen = choose(looked=FIRST_ENTRY_GRACE_SECONDS + 5, stable_seen=None)
    assert fallen.source == Source.MONITORING
    assert "no request log entry of svc-00001-abc arrived in 50 s" in fallen.reason


def test_a_stalled_stream_falls_back():
    choice = choose(stable_seen=NOW - STALL_SECONDS - 30, newest=NOW - STALL_SECONDS - 10)
    assert choice.source == Source.MONITORING and "stalled" in choice.reason and "70 s ago" in choice.reason


@pytest.mark.parametrize(("monitoring", "log", "agrees"), [
    (2400, 2400, True),      # the same requests
    (2400, 2330, True),      # window edges: within 2 √n + 2 % + 1
    (2400, 1200, False),     # a 50 % sampling exclusion filter
    (12, 0, False),          # nothing logged where Monitoring counts 12
    (3, 0, True),            # too few to tell
])
def test_cross_check_against_monitoring(monitoring, log, agrees):
    check = WindowCheck("svc-00001-abc", NOW - 60, NOW, monitoring, log)
    assert (disagreement(check) is None) == agrees
    assert (choose(checks=[check]).source == Source.LOGS) == agrees


def test_a_disagreement_names_both_counts():
    reason = choose(checks=[WindowCheck("svc-00001-abc", NOW - 60, NOW, 2400, 1200)]).reason
    assert "1,200 requests of svc-00001-abc" in reason and "counts 2,400" in reason


def test_configured_sources_are_kept():
    assert choose("monitoring").source == Source.MONITORING
    forced = choose("logs", stable_seen=None, looked=600)
    assert forced.source == Source.LOGS and forced.waiting
