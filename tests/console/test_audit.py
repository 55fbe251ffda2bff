"""The audit trail's backlog: entries whose write failed, retried in order, shared by a screen's engines."""

from __future__ import annotations

import threading
import time

from console.audit import Audit, AuditBacklog
from console.errors import ApiError
from console.gcp.logs import Logs


def test_two_engines_flushing_one_screens_backlog_write_each_entry_once(emulator, clients_for, manual_clock, monkeypatch):
    """A driver and an operator's rollback flush the screen's backlog from two threads at once: each
    entry is written once and none is skipped (CI saw the rollback fail with 'pop from empty list')."""
    emu = emulator()
    clients = clients_for(emu)
    backlog = AuditBacklog()
    audits = [Audit(Logs(clients), "vinsight-staging", "us-central1", "vinsight-backend", "staging", "operator:bob")
              for _ in range(2)]
    for audit in audits:
        audit.backlog = backlog
    real_write = Logs.write

    def down(self, *args, **kwargs):
        raise ApiError("WriteLogEntries", "UNAVAILABLE", "Cloud Logging is down")

    monkeypatch.setattr(Logs, "write", down)
    at = manual_clock.now() - 600
    for i in range(20):
        audits[i % 2].record("lease", at + i, message=f"entry {i}")
    assert len(audits[0].pending) == 20
    written: list[str] = []

    def slow(self, project, log_id, payload, **kwargs):
        time.sleep(0.002)
        written.append(kwargs["insert_id"])
        return real_write(self, project, log_id, payload, **kwargs)

    monkeypatch.setattr(Logs, "write", slow)
    failures: list[BaseException] = []

    def flush(audit: Audit) -> None:
        try:
            audit.flush()
        except BaseException as error:  # noqa: BLE001 - the test reports what a thread raised
            failures.append(error)

    threads = [threading.Thread(target=flush, args=(audit,)) for audit in audits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == [] and backlog.entries == []
    assert len(written) == 20 == len(set(written))  # each once, in order
