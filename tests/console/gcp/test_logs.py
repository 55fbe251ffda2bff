"""Cloud Logging access against the emulator, through the real google-cloud-logging client."""

import threading

from console.gcp.logs import LogTail, Logs, audit_log_name

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
