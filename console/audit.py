"""The audit trail (structured entries in Cloud Logging) and chat notifications.

History and the DORA figures are computed from these entries, so every action the console
takes is written here with its actor and the traffic before and after. A failing webhook never
fails a rollout; a failing audit write is reported but does not leave traffic half-done.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from console.errors import ApiError
from console.gcp.logs import AUDIT_LOG_ID, Logs


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

    def record(self, kind: str, at: float, *, revision: str = "", severity: str = "NOTICE", **fields: Any) -> None:
        payload = {
            "kind": kind,
            "env": self.env,
            "service": self.service,
            "actor": self.actor,
            "message": fields.pop("message", kind),
            **{k: v for k, v in fields.items() if v is not None},
        }
        try:
            self.logs.write(
                self.project,
                AUDIT_LOG_ID,
                payload,
                severity=severity,
                resource_labels={"location": self.region, "service_name": self.service, "revision_name": revision},
                labels={"vinconsole_kind": kind, "vinconsole_env": self.env},
                timestamp=at,
                insert_id=audit_insert_id(self.project, at, payload),
            )
        except ApiError as error:
            self.warn(f"audit entry {kind!r} not written: {error}")


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
