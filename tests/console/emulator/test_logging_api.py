"""Logging v2 Write/List/Tail through the real google-cloud-logging client."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from google.api import monitored_resource_pb2
from google.api_core import exceptions
from google.cloud.logging_v2.types import (
    ListLogEntriesRequest,
    LogEntry,
    TailLogEntriesRequest,
    WriteLogEntriesRequest,
)
from google.logging.type.log_severity_pb2 import ERROR as SEVERITY_ERROR
from google.protobuf import struct_pb2

from console.emulator import filters
from console.emulator.fleet import REVISION, TrafficEntry

PROJECT = "vinsight-prod"
AUDIT = f"projects/{PROJECT}/logs/vinconsole-audit"
STDERR = f"projects/{PROJECT}/logs/run.googleapis.com%2Fstderr"
REQUESTS = f"projects/{PROJECT}/logs/run.googleapis.com%2Frequests"


def write(clients, payload: dict | None = None, text: str | None = None, severity: str = "NOTICE", **fields) -> None:
    entry = LogEntry(
        log_name=AUDIT,
        resource=monitored_resource_pb2.MonitoredResource(
            type="cloud_run_revision", labels={"project_id": PROJECT, "service_name": "vinsight-backend"}
        ),
        severity=severity,
        **fields,
    )
    if payload is not None:
        struct = struct_pb2.Struct()
        struct.update(payload)
        entry.json_payload = struct
    if text is not None:
        entry.text_payload = text
    clients.logging.write_log_entries(request=WriteLogEntriesRequest(entries=[entry]), retry=None, timeout=5)


def list_entries(clients, filter_: str, order_by: str = "timestamp asc", page_size: int = 100, project: str = PROJECT) -> list[LogEntry]:
    req = ListLogEntriesRequest(resource_names=[f"projects/{project}"], filter=filter_, order_by=order_by, page_size=page_size)
    return list(clients.logging.list_log_entries(request=req, retry=None, timeout=10))


def first_page(clients, filter_: str, page_size: int = 200) -> list[LogEntry]:
    """Newest entries first, one page only (an unbounded filter would page through 25 h of logs)."""
    req = ListLogEntriesRequest(resource_names=[f"projects/{PROJECT}"], filter=filter_, order_by="timestamp desc",
                                page_size=page_size)
    pager = clients.logging.list_log_entries(request=req, retry=None, timeout=10)
    return list(next(iter(pager.pages)).entries)


def test_write_then_list_with_a_filter(emu, clients, manual_clock):
    write(clients, {"action": "promote", "service": "vinsight-backend", "traffic": {"before": 10, "after": 100}},
          labels={"actor": "ci"})
    manual_clock.advance(5)
    write(clients, {"action": "rollback", "service": "vinsight-backend"}, labels={"actor": "alice"})
    write(clients, {"action": "promote", "service": "vinsight-frontend"}, labels={"actor": "ci"})
    found = list_entries(clients, f'logName = "{AUDIT}" AND jsonPayload.action = "promote" AND labels.actor = "ci"')
    assert [e.json_payload["service"] for e in found] == ["vinsight-backend", "vinsight-frontend"]
    first = found[0]
    assert first.json_payload["traffic"]["after"] == 100  # nested structs survive
    assert first.timestamp.timestamp() == pytest.approx(manual_clock.now() - 5)  # defaulted to now
    assert first.insert_id and first.receive_timestamp
    assert first.resource.labels["service_name"] == "vinsight-backend"
    assert len(list_entries(clients, 'jsonPayload.traffic.before >= 10')) == 1
    assert len(list_entries(clients, 'jsonPayload.action : "ROLL"')) == 1  # has: case-insensitive substring
    assert len(list_entries(clients, f'logName = "{AUDIT}" -jsonPayload.action = "promote"')) == 1
    assert len(list_entries(clients, 'log_id("vinconsole-audit") AND (labels.actor = "alice" OR labels.actor = "bob")')) == 1
    newest = list_entries(clients, f'logName = "{AUDIT}"', order_by="timestamp desc")
    assert newest[-1].json_payload["traffic"]["before"] == 10
    since = datetime.fromtimestamp(manual_clock.now() - 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(list_entries(clients, f'logName = "{AUDIT}" AND timestamp >= "{since}"')) == 2
    assert list_entries(clients, f'logName = "{AUDIT}"', project="vinsight-staging") == []


def test_severity_filter(emu, clients):
    write(clients, text="started", severity="INFO")
    write(clients, text="lease lost", severity="WARNING")
    write(clients, text="rollback failed", severity="ERROR")
    write(clients, text="paging", severity="CRITICAL")
    named = list_entries(clients, f'logName = "{AUDIT}" AND severity >= ERROR')
    assert [e.text_payload for e in named] == ["rollback failed", "paging"]
    assert all(e.severity >= SEVERITY_ERROR for e in named)
    numeric = list_entries(clients, f'logName = "{AUDIT}" severity>=400')
    assert [e.text_payload for e in numeric] == ["lease lost", "rollback failed", "paging"]
    assert [e.text_payload for e in list_entries(clients, f'logName = "{AUDIT}" severity = WARNING')] == ["lease lost"]
    assert [e.text_payload for e in list_entries(clients, f'logName = "{AUDIT}" textPayload : "roll"')] == ["rollback failed"]


def test_pagination_and_order(emu, clients, manual_clock):
    for i in range(7):
        write(clients, {"n": i})
        manual_clock.advance(1)
    req = ListLogEntriesRequest(resource_names=[f"projects/{PROJECT}"], filter=f'logName = "{AUDIT}"',
                                order_by="timestamp desc", page_size=3)
    pages = list(clients.logging.list_log_entries(request=req, retry=None, timeout=5).pages)
    assert [len(p.entries) for p in pages] == [3, 3, 1]
    assert [e.json_payload["n"] for p in pages for e in p.entries] == [6, 5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    "bad, words",
    [
        ('severity >= LOUD', "unknown severity"),
        ('timestamp >= "yesterday"', "RFC 3339"),
        ('(logName = "x"', "missing ')'"),
        ('payload.x = "y"', "unknown field"),
    ],
)
def test_bad_filters_are_invalid_argument(clients, bad, words):
    with pytest.raises(exceptions.InvalidArgument, match=words.replace("(", r"\(").replace(")", r"\)")):
        list_entries(clients, bad)


def test_bad_order_and_resource_names(clients):
    with pytest.raises(exceptions.InvalidArgument, match="order_by"):
        list_entries(clients, "", order_by="severity")
    with pytest.raises(exceptions.InvalidArgument, match="resource_names"):
        req = ListLogEntriesRequest(resource_names=["organizations/1"])
        list(clients.logging.list_log_entries(request=req, retry=None, timeout=5))


def _open_tail(clients, filter_: str, got: list, ready: threading.Event, streams: list) -> threading.Thread:
    def run() -> None:
        # the library pre-fetches the first response: opening a tail blocks until an entry arrives
        stream = clients.logging.tail_log_entries(
            iter([TailLogEntriesRequest(resource_names=[f"projects/{PROJECT}"], filter=filter_)]), timeout=30
        )
        streams.append(stream)
        try:
            for response in stream:
                got.extend(response.entries)
                ready.set()
                return
        except exceptions.GoogleAPICallError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_tail_receives_an_entry_written_after_it_opened(emu, clients):
    write(clients, {"action": "before"})
    got: list = []
    ready = threading.Event()
    streams: list = []
    thread = _open_tail(clients, f'logName = "{AUDIT}" AND jsonPayload.action = "after"', got, ready, streams)
    threading.Event().wait(0.3)  # the tail is open and waiting
    write(clients, {"action": "other"})
    write(clients, {"action": "after"})
    assert ready.wait(10)
    thread.join(5)
    assert [e.json_payload["action"] for e in got] == ["after"]
    for stream in streams:
        stream.cancel()


def test_tail_streams_generated_errors_as_time_passes(emulator, clients_for, manual_clock):
    emu = emulator(scenario="incident")
    clients = clients_for(emu)
    got: list = []
    ready = threading.Event()
    streams: list = []
    opened = manual_clock.now()
    thread = _open_tail(clients, f'logName = "{REQUESTS}" AND httpRequest.status >= 500', got, ready, streams)
    threading.Event().wait(0.2)
    manual_clock.advance(30)
    assert ready.wait(10)
    thread.join(5)
    # a tail streams what Logging receives after it opened (an entry may be a few seconds older)
    assert got and all(e.receive_timestamp.timestamp() >= opened for e in got)
    assert all(e.http_request.status >= 500 for e in got)
    assert all(0 < (e.receive_timestamp.timestamp() - e.timestamp.timestamp()) < 30 for e in got)
    for stream in streams:
        stream.cancel()


def test_a_tail_streams_every_request_entry_a_list_shows_once_received(emulator, clients_for, manual_clock):
    """Entries are received a few seconds after their request, before their 10 s tick ends: a tail
    polled through a tick must still stream each exactly once (it once skipped those received early)."""
    emu = emulator(scenario="healthy")
    clients = clients_for(emu)
    query = f'logName = "{REQUESTS}" AND resource.labels.service_name = "vinsight-backend"'
    got: list = []
    streams: list = []

    def collect() -> None:
        # the library pre-fetches the first response: opening blocks until an entry arrives
        stream = clients.logging.tail_log_entries(
            iter([TailLogEntriesRequest(resource_names=[f"projects/{PROJECT}"], filter=query)]), timeout=60)
        streams.append(stream)
        try:
            for response in stream:
                got.extend(response.entries)
        except exceptions.GoogleAPICallError:
            pass

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    threading.Event().wait(0.3)  # the tail is open
    opened = manual_clock.now()
    for _ in range(30):  # 60 clock s in 2 s moves, each seen by the tail (it looks every 50 ms)
        manual_clock.advance(2)
        threading.Event().wait(0.25)
    now = manual_clock.now()
    threading.Event().wait(0.5)
    for stream in streams:
        stream.cancel()
    thread.join(5)
    since = datetime.fromtimestamp(opened - 30, UTC).isoformat()
    listed = [e for e in list_entries(clients, f'{query} AND timestamp >= "{since}"', page_size=1000)
              if opened < e.receive_timestamp.timestamp() <= now]
    tailed = [e.insert_id for e in got if e.receive_timestamp.timestamp() <= now]
    assert len(listed) > 500
    assert len(tailed) == len(set(tailed))  # each once
    assert set(tailed) == {e.insert_id for e in listed}
    lags = [e.receive_timestamp.timestamp() - e.timestamp.timestamp() for e in listed]
    assert sorted(lags)[len(lags) // 2] < 6  # seconds, not a tick's worth


def test_generated_stderr_entries_carry_stack_traces(emulator, clients_for, manual_clock):
    emu = emulator(scenario="incident")
    clients = clients_for(emu)
    query = f'logName = "{STDERR}" AND resource.labels.service_name = "vinsight-backend" AND severity >= ERROR'
    errors = first_page(clients, query)
    assert len(errors) == 200  # ≈ 6 % of 40 req/s since 20 minutes ago
    assert errors[-1].timestamp.timestamp() > manual_clock.now() - 20 * 60
    texts = [e.text_payload for e in errors[:200]]
    assert all("Traceback (most recent call last):" in t and '  File "' in t for t in texts)
    assert len({t.splitlines()[-1] for t in texts}) >= 3  # several distinct messages
    # the app's line and the request's entry reach Logging independently: the request's may still be
    # on its way for the newest errors
    first = next(e for e in errors if e.timestamp.timestamp() < manual_clock.now() - 30)
    assert first.severity == SEVERITY_ERROR
    labels = first.resource.labels
    assert first.resource.type == "cloud_run_revision"
    assert set(labels) == {"project_id", "location", "service_name", "revision_name", "configuration_name"}
    # each app error shares its trace with a request log entry for a 5xx
    around = datetime.fromtimestamp(first.timestamp.timestamp() - 60, UTC).isoformat()
    requests = list_entries(clients, f'logName = "{REQUESTS}" AND trace = "{first.trace}" AND timestamp >= "{around}"')
    assert len(requests) == 1 and requests[0].http_request.status >= 500
    assert requests[0].http_request.request_url.startswith("https://vinsight-backend-")
    assert requests[0].http_request.latency.ToTimedelta().total_seconds() > 0
    # deterministic: the same query gives the same entries
    again = first_page(clients, query)
    assert [e.insert_id for e in again] == [e.insert_id for e in errors]


def test_request_logs_follow_the_revision_serving(emulator, clients_for, manual_clock):
    emu = emulator(scenario="regression")
    clients = clients_for(emu)
    svc = emu.fleet.find(PROJECT, "us-central1", "vinsight-backend")
    stable, candidate = list(svc.revisions)[-2:]
    start = manual_clock.now()
    with emu.fleet.lock:
        svc.record_served([TrafficEntry(REVISION, stable, 50), TrafficEntry(REVISION, candidate, 50)], start)
    manual_clock.advance(300)
    since = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    found = list_entries(clients, f'logName = "{REQUESTS}" AND timestamp >= "{since}" AND httpRequest.status >= 500',
                         page_size=1000)
    by_revision: dict[str, int] = {}
    for e in found:
        by_revision[e.resource.labels["revision_name"]] = by_revision.get(e.resource.labels["revision_name"], 0) + 1
    assert by_revision.get(candidate, 0) > 5 * by_revision.get(stable, 0)  # 8 % vs 0.4 % 5xx
    assert all(e.severity == SEVERITY_ERROR for e in found)


def test_log_store_write_from_the_emulator(emu):
    emu.logs.write([{"log_name": f"projects/{PROJECT}/logs/vinconsole-audit", "json_payload": {"action": "seed"},
                     "timestamp": 1_700_000_000.0}])
    stored = emu.logs.entries()
    assert stored[-1].json_payload["action"] == "seed"
    assert stored[-1].timestamp.seconds == 1_700_000_000


def test_logging_filter_precedence():
    # Cloud Logging: NOT binds tightest, then OR, then AND
    node = filters.parse_logging('labels.a = "1" labels.b = "2" OR labels.c = "3"')
    assert filters.matches(node, {"labels": {"a": "1", "c": "3"}})
    assert not filters.matches(node, {"labels": {"c": "3"}})


def _list_once(clients, project: str = "vinsight-staging"):
    from google.cloud.logging_v2.types import ListLogEntriesRequest

    request = ListLogEntriesRequest(resource_names=[f"projects/{project}"], filter='logName = "x"', page_size=1)
    return clients.logging.list_log_entries(request=request, retry=None, timeout=5)


def test_list_reads_are_limited_to_60_a_minute_per_project(emu, clients, manual_clock):
    from google.api_core import exceptions

    for _ in range(60):
        _list_once(clients)
    with pytest.raises(exceptions.ResourceExhausted, match="Read requests per minute"):
        _list_once(clients)
    _list_once(clients, "vinsight-prod")  # another project has its own quota
    manual_clock.advance(61)
    _list_once(clients)
    assert emu.log_quotas.refused_reads == {"vinsight-staging": 1}


def _open_raw_tail(clients, project: str = "vinsight-staging"):
    from google.cloud.logging_v2.types import TailLogEntriesRequest

    request = TailLogEntriesRequest(resource_names=[f"projects/{project}"], filter='logName = "x"')
    return clients.logging.transport.tail_log_entries(iter([request]))


def _until(condition, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_at_most_10_tail_sessions_per_project(emu, clients):
    import grpc

    calls = [_open_raw_tail(clients) for _ in range(10)]
    try:
        assert _until(lambda: emu.log_quotas.open_tails.get("vinsight-staging") == 10)
        eleventh = _open_raw_tail(clients)
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(eleventh))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "at most 10" in refused.value.details()
        calls.pop().cancel()
        assert _until(lambda: emu.log_quotas.open_tails.get("vinsight-staging") == 9)
        calls.append(_open_raw_tail(clients))
        assert _until(lambda: emu.log_quotas.open_tails.get("vinsight-staging") == 10)
        assert emu.log_quotas.max_tails["vinsight-staging"] == 10
    finally:
        for call in calls:
            call.cancel()
    assert _until(lambda: emu.log_quotas.open_tails.get("vinsight-staging") == 0)


def test_a_query_for_one_log_generates_only_that_log():
    """The saturation read names the system log: the emulator must not simulate every request of the
    hour to answer it (it did, and a service screen's first read took 15 s)."""
    from console.emulator.logging_api import REQUESTS_LOG_ID, RUN_LOG_IDS, STDERR_LOG_ID, _wanted_run_logs
    from console.emulator.system_logs import SYSTEM_LOG_ID
    from console.gcp.logs import system_log_filter

    projects = {"vinsight-prod"}
    wanted = lambda text: _wanted_run_logs(filters.parse_logging(text), projects)  # noqa: E731
    assert wanted(system_log_filter("vinsight-prod", "us-central1", 0.0, 60.0)) == {SYSTEM_LOG_ID}
    assert wanted('logName!="projects/vinsight-prod/logs/run.googleapis.com%2Frequests" AND severity>=ERROR') == {
        STDERR_LOG_ID, SYSTEM_LOG_ID}
    assert wanted('log_id("run.googleapis.com/requests")') == {REQUESTS_LOG_ID}
    assert wanted("severity>=ERROR") == set(RUN_LOG_IDS)
