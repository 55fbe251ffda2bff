"""The audit trail (structured entries in Cloud Logging) and chat notifications.

History and the DORA figures are computed from these entries, so every action the console
takes is written here with its actor and the traffic before and after. A failing webhook never
fails a rollout; a failing audit write is reported but does not leave traffic half-done.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from console.errors import ApiError
from console.gcp.logs import AUDIT_LOG_ID, Logs


class AuditBacklog:
    """Audit entries whose write failed, oldest first, retried before the next entry. Shared by the
    engines of one screen (a driver and an operator's rollback run in two threads at once), so every
    use holds its lock: two flushes must never write one entry twice and then pop two."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[_Entry] = []


class Audit:
    def __init__(self, logs: Logs, project: str, region: str, service: str, env: str, actor: str,
                 warn: Callable[[str], None] | None = None):
        self.logs = logs
        self.project = project
        self.region = region
        self.service = service
        self.env = env
        self.actor = actor
        self.warn = warn or (lambda message: None)
        self.backlog = AuditBacklog()  # a screen gives its engines one shared backlog

    @property
    def pending(self) -> list[_Entry]:
        """The entries not written yet (a copy)."""
        with self.backlog.lock:
            return list(self.backlog.entries)

    def record(self, kind: str, at: float, *, revision: str = "", severity: str = "NOTICE", **fields: Any) -> None:
        payload = {
            "kind": kind,
            "env": self.env,
            "service": self.service,
            "actor": self.actor,
            "message": fields.pop("message", kind),
            **{k: v for k, v in fields.items() if v is not None},
        }
        with self.backlog.lock:
            self.backlog.entries.append(_Entry(kind, at, revision, severity, payload))
        self.flush()

    def flush(self) -> bool:
        """Write what is pending, oldest first; True when nothing is left. Each failed entry is said once
        (the traffic change it records is done; the shared history would miss it until written). A
        retried entry keeps its deterministic insert_id, so history counts it once."""
        with self.backlog.lock:
            pending = self.backlog.entries
            while pending:
                entry = pending[0]
                try:
                    self.logs.write(
                        self.project,
                        AUDIT_LOG_ID,
                        entry.payload,
                        severity=entry.severity,
                        resource_labels={"location": self.region, "service_name": self.service,
                                         "revision_name": entry.revision},
                        labels={"vinconsole_kind": entry.kind, "vinconsole_env": self.env},
                        timestamp=entry.at,
                        insert_id=audit_insert_id(self.project, entry.at, entry.payload),
                    )
                except ApiError as error:
                    for waiting in pending:
                        if not waiting.warned:
                            waiting.warned = True
                            self.warn(f"audit entry {waiting.kind!r} not written ({len(pending)} waiting; retried "
                                      f"with the next entry and when the action ends): {error}")
                    return False
                pending.pop(0)
            return True


@dataclass
class _Entry:
    kind: str
    at: float
    revision: str
    severity: str
    payload: dict[str, Any]
    warned: bool = False


def audit_insert_id(project: str, at: float, payload: Mapping[str, Any]) -> str:
    """The same action at the same time gets the same id: a resent write (after a lost answer)
    is then one entry for Cloud Logging and for `history`, not two."""
    digest = hashlib.sha256(json.dumps([project, round(at, 6), payload], sort_keys=True, default=str).encode())
    return "vc-" + digest.hexdigest()[:32]


def split_json(split: Mapping[str, int]) -> dict[str, int]:
    return {revision: percent for revision, percent in sorted(split.items()) if percent}


class Notifier:
    """Posts one-line messages to a Slack-compatible webhook named by an env variable."""

    def __init__(self, url_env: str | None, warn: Callable[[str], None] | None = None, then: str = "the rollout goes on"):
        self.url = os.environ.get(url_env) if url_env else None
        self.url_env = url_env
        self.warn = warn or (lambda message: None)
        self.then = then  # what happens after a failed post, for the warning

    def send(self, text: str) -> bool:
        """Post `text`; False (and a warning) when it could not be delivered, never an exception."""
        if not self.url:
            return False
        import httpx

        try:
            response = httpx.post(self.url, json={"text": text}, timeout=5.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            self.warn(f"webhook (${self.url_env}) failed: {exc}; {self.then}")
            return False
        return True
