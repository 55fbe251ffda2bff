"""Cloud Run's request log in the emulator: one entry per simulated request, the same traffic
Monitoring counts, several clients and instances, a few seconds of ingestion lag; and off."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from google.cloud.logging_v2.types import ListLogEntriesRequest

from console.emulator import Emulator
from console.emulator.fleet import REVISION, TrafficEntry

PROJECT = "vinsight-prod"
REQUESTS = f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests"
STDERR = f"projects/{PROJECT}/logs/run.googleapis.com%2Fstderr"


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _list(clients, filter_: str) -> list:
    request = ListLogEntriesRequest(resource_names=[f"projects/{PROJECT}"], filter=filter_, order_by="timestamp asc",
                                    page_size=1000)
    return list(clients.logging.list_log_entries(request=request, retry=None, timeout=30))


def _window(lo: float, hi: float) -> str:
    return (f'logName = "{REQUESTS}" AND resource.labels.service_name = "vinsight-backend" '
            f'AND timestamp >= "{_rfc3339(lo)}" AND timestamp < "{_rfc3339(hi)}"')


def test_every_request_is_logged_as_monitoring_counts_it(emulator, clients_for, manual_clock):
    emu = emulator(scenario="regression")
    clients = clients_for(emu)
    svc = emu.fleet.find(PROJECT, "us-central1", "vinsight-backend")
    stable, candidate = list(svc.revisions)[-2:]
    start = (manual_clock.now() // 60 + 1) * 60
    with emu.fleet.lock:
        svc.record_served([TrafficEntry(REVISION, stable, 50), TrafficEntry(REVISION, candidate, 50)], start - 30)
    manual_clock.advance(start - manual_clock.now() + 180)
    found = _list(clients, _window(start, start + 120))
    for revision in (stable, candidate):
        mine = [e for e in found if e.resource.labels["revision_name"] == revision]
        by_class = Counter(f"{e.http_request.status // 100}xx" for e in mine)
        assert dict(by_class) == emu.traffic.revision_counts(svc, revision, start, start + 120)
        assert all(e.labels["instanceId"] for e in mine)
    assert len({e.insert_id for e in found}) == len(found)
    clients_seen = Counter(e.http_request.remote_ip for e in found)
    assert len(clients_seen) >= 20 and clients_seen.most_common(1)[0][1] > 3 * len(found) / len(clients_seen)
    lags = [e.receive_timestamp.timestamp() - e.timestamp.timestamp() for e in found]
    assert min(lags) > 0 and max(lags) < 30
    assert all(e.severity == (500 if e.http_request.status >= 500 else 400 if e.http_request.status >= 400 else 200)
               for e in found)
    # a failing client retries: some client has several 5xx within seconds of each other
    failures = sorted((e.http_request.remote_ip, e.timestamp.timestamp()) for e in found if e.http_request.status >= 500)
    assert any(a[0] == b[0] and b[1] - a[1] < 2 for a, b in zip(failures, failures[1:]))


def test_an_entry_is_listed_only_once_received(emulator, clients_for, manual_clock):
    emu = emulator()
    clients = clients_for(emu)
    now = manual_clock.now()
    manual_clock.advance(60)
    now = manual_clock.now()
    recent = _list(clients, _window(now - 60, now))
    assert recent and all(e.receive_timestamp.timestamp() <= now for e in recent)
    manual_clock.advance(60)
    later = _list(clients, _window(now - 60, now))
    assert len(later) > len(recent)  # the rest of that minute arrived since


def test_request_logs_off_leaves_stderr(repo_config, clients_for, manual_clock):
    emu = Emulator(repo_config, scenario="regression", clock=manual_clock, history=False, request_logs=False)
    emu.start()
    try:
        clients = clients_for(emu)
        svc = emu.fleet.find(PROJECT, "us-central1", "vinsight-backend")
        stable, candidate = list(svc.revisions)[-2:]
        with emu.fleet.lock:
            svc.record_served([TrafficEntry(REVISION, stable, 50), TrafficEntry(REVISION, candidate, 50)],
                              manual_clock.now())
        start = manual_clock.now()
        manual_clock.advance(120)
        assert _list(clients, _window(start, start + 100)) == []
        errors = _list(clients, f'logName = "{STDERR}" AND timestamp >= "{_rfc3339(start)}"')
        assert errors
    finally:
        emu.stop()
