"""Cloud Logging access against the emulator, through the real google-cloud-logging client."""

import threading

from console.gcp.logs import Logs, LogTail, audit_log_name

PROJECT = "vinsight-staging"


def test_write_then_list_with_filter_and_pages(emulator, clients_for, manual_clock):
    emu = emulator()
    logs = Logs(clients_for(emu))
    for index in range(7):
        logs.write(PROJECT, "vinconsole-audit", {"kind": "traffic", "n": index}, resource_labels={"service_name": "svc"},
                   timestamp=manual_clock.now() + index)
    entries = logs.list(PROJECT, f'logName = "{audit_log_name(PROJECT)}"', newest_first=False, page_size=2)
    assert [e.payload["n"] for e in entries] == [0, 1, 2, 3, 4, 5, 6]  # pages followed
    assert entries[0].severity == "NOTICE" and entries[0].resource_labels["service_name"] == "svc"
    newest = logs.list(PROJECT, f'logName = "{audit_log_name(PROJECT)}" AND jsonPayload.n >= 5', limit=10)
    assert [e.payload["n"] for e in newest] == [6, 5]


def test_severity_filter_on_generated_errors(emulator, clients_for, manual_clock):
    emu = emulator(scenario="regression")
    logs = Logs(clients_for(emu))
    manual_clock.advance(300)
    since = manual_clock.now() - 600
    from console.gcp.logs import rfc3339

    errors = logs.list(
        PROJECT,
        f'severity >= ERROR AND resource.labels.service_name = "vinsight-backend" AND timestamp >= "{rfc3339(since)}"',
        limit=50,
    )
    assert errors and all(e.severity in ("ERROR", "CRITICAL") for e in errors)


def test_tail_receives_new_entries_and_stops(emulator, clients_for):
    emu = emulator()
    logs = Logs(clients_for(emu))
    got: list = []
    arrived = threading.Event()

    def on_entry(entry):
        got.append(entry)
        arrived.set()

    tail = LogTail(logs, PROJECT, f'logName = "{audit_log_name(PROJECT)}"', on_entry).start()
    try:
        for _ in range(50):  # the tail connects in its own thread; write until it sees one
            logs.write(PROJECT, "vinconsole-audit", {"kind": "tail-test"})
            if arrived.wait(0.2):
                break
        assert got and got[0].payload["kind"] == "tail-test"
    finally:
        tail.stop()


def _until(condition, seconds: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class _FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_read_budget_waits_for_a_slot_or_says_when_the_next_read_can_go():
    import pytest

    from console.gcp.logs import LogQuotaError, LogReadBudget

    fake = _FakeTime()
    budget = LogReadBudget(PROJECT, per_minute=30, monotonic=fake.monotonic, sleep=fake.sleep)
    for _ in range(30):
        budget.acquire("ListLogEntries(p)", max_wait=0)
        fake.now += 1
    with pytest.raises(LogQuotaError, match="under 30 requests/min") as caught:
        budget.acquire("ListLogEntries(p)", max_wait=5)
    assert "next read possible in 30 s" in str(caught.value)
    budget.acquire("ListLogEntries(p)", max_wait=60)  # waits for the oldest read to leave the minute
    assert fake.slept == [30.0] and budget.requests == 31


def test_a_refused_read_pauses_the_projects_reads_for_a_minute():
    import pytest

    from console.gcp.logs import LogQuotaError, LogReadBudget

    fake = _FakeTime()
    budget = LogReadBudget(PROJECT, monotonic=fake.monotonic, sleep=fake.sleep)
    error = budget.exhausted("ListLogEntries(p)")
    assert "RESOURCE_EXHAUSTED" in str(error) and "60 requests/min per project" in str(error) and "paused until" in str(error)
    with pytest.raises(LogQuotaError, match="next read possible in 60 s"):
        budget.acquire("ListLogEntries(p)", max_wait=20)
    fake.now += 60
    budget.acquire("ListLogEntries(p)", max_wait=0)


def test_resource_exhausted_is_not_retried_and_stops_reads_for_a_minute(emulator, clients_for):
    import pytest

    from console.gcp.logs import LogQuotaError

    emu = emulator()
    logs = Logs(clients_for(emu))
    emu.inject_fault("ListLogEntries", "RESOURCE_EXHAUSTED")
    with pytest.raises(LogQuotaError, match="paused until"):
        logs.list(PROJECT, f'logName = "{audit_log_name(PROJECT)}"')
    with pytest.raises(LogQuotaError, match="next read possible in"):
        logs.list(PROJECT, f'logName = "{audit_log_name(PROJECT)}"', max_wait=1)
    assert emu.faults.calls["ListLogEntries"] == 1  # neither retried nor sent again


def test_every_page_is_a_read_within_the_budget(emulator, clients_for, manual_clock):
    from console.gcp.logs import read_budget

    emu = emulator()
    clients = clients_for(emu)
    logs = Logs(clients)
    for index in range(5):
        logs.write(PROJECT, "vinconsole-audit", {"n": index}, timestamp=manual_clock.now() + index)
    assert len(logs.list(PROJECT, f'logName = "{audit_log_name(PROJECT)}"', page_size=2)) == 5
    assert read_budget(clients, PROJECT).requests == 3 == len(emu.log_quotas.reads[PROJECT])


def test_a_tail_waiting_for_its_first_entry_is_closed_for_real(emulator, clients_for):
    emu = emulator()
    logs = Logs(clients_for(emu))
    tail = LogTail(logs, PROJECT, 'logName = "projects/vinsight-staging/logs/nothing-ever"', lambda entry: None).start()
    assert _until(lambda: emu.log_quotas.open_tails.get(PROJECT) == 1)
    tail.stop()
    assert tail.join(10)
    assert _until(lambda: emu.log_quotas.open_tails.get(PROJECT) == 0)


def test_readers_of_one_project_share_one_tail_session(emulator, clients_for):
    from console.gcp.logs import tail_hub

    emu = emulator()
    clients = clients_for(emu)
    hub = tail_hub(clients, PROJECT)
    assert tail_hub(clients.for_views(), PROJECT) is hub  # one per process, whichever patience
    got: dict[str, list] = {"a": [], "b": []}
    a = hub.subscribe(f'logName = "{audit_log_name(PROJECT)}" AND jsonPayload.kind = "a"',
                      lambda e: e.payload.get("kind") == "a", got["a"].append)
    b = hub.subscribe(f'logName = "{audit_log_name(PROJECT)}" AND jsonPayload.kind = "b"',
                      lambda e: e.payload.get("kind") == "b", got["b"].append)
    logs = Logs(clients)
    try:
        assert _until(lambda: emu.log_quotas.open_tails.get(PROJECT) == 1)
        for _ in range(100):
            logs.write(PROJECT, "vinconsole-audit", {"kind": "a"})
            logs.write(PROJECT, "vinconsole-audit", {"kind": "b"})
            if _until(lambda: got["a"] and got["b"], 0.2):
                break
        assert got["a"] and got["b"]
        assert all(e.payload["kind"] == "a" for e in got["a"]) and all(e.payload["kind"] == "b" for e in got["b"])
        a.stop()
        b.stop()
        assert _until(lambda: emu.log_quotas.open_tails.get(PROJECT) == 0)
        assert emu.log_quotas.max_tails[PROJECT] == 1
    finally:
        a.stop()
        b.stop()
