"""Cloud Logging: reading log entries, tailing them live, and writing the console's audit trail.

`TailLogEntries` blocks until its first entry arrives, so a tail only ever runs in a worker
thread; `LogTail` reconnects on its own when the stream breaks.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from console.errors import ApiError
from console.gcp.clients import WRITE_TIMEOUT, Clients, api_error, guarded

AUDIT_LOG_ID = "vinconsole-audit"

_SEVERITY_NAMES = {0: "DEFAULT", 100: "DEBUG", 200: "INFO", 300: "NOTICE", 400: "WARNING", 500: "ERROR", 600: "CRITICAL", 700: "ALERT", 800: "EMERGENCY"}


@dataclass(frozen=True)
class LogEntry:
    timestamp: float
    severity: str
    log_name: str
    text: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    resource_labels: Mapping[str, str] = field(default_factory=dict)
    http_status: int | None = None
    insert_id: str = ""


def severity_name(value: Any) -> str:
    """Severity comes back as an int from the API (or an enum); name it."""
    try:
        return _SEVERITY_NAMES.get(int(value), str(value))
    except (TypeError, ValueError):
        return str(getattr(value, "name", value))


def _to_python(value: Any) -> Any:
    """proto-plus Struct values into plain dicts and lists."""
    if hasattr(value, "items"):
        return {key: _to_python(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "RepeatedComposite":
        return [_to_python(item) for item in value]
    return value


def log_entry(proto: Any) -> LogEntry:
    payload = _to_python(proto.json_payload) if "json_payload" in proto else {}
    text = proto.text_payload or (payload.get("message", "") if isinstance(payload, dict) else "")
    status = proto.http_request.status if "http_request" in proto and proto.http_request.status else None
    return LogEntry(
        timestamp=proto.timestamp.timestamp() if proto.timestamp else 0.0,
        severity=severity_name(proto.severity),
        log_name=proto.log_name,
        text=text,
        payload=payload,
        labels=dict(proto.labels),
        resource_labels=dict(proto.resource.labels) if proto.resource else {},
        http_status=status,
        insert_id=proto.insert_id,
    )


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_log_name(project: str) -> str:
    return f"projects/{project}/logs/{AUDIT_LOG_ID}"


class Logs:
    def __init__(self, clients: Clients):
        self.clients = clients

    def list(self, project: str, filter_: str, *, newest_first: bool = True, limit: int = 1000, page_size: int = 500) -> list[LogEntry]:
        from google.cloud.logging_v2.types import ListLogEntriesRequest

        request = ListLogEntriesRequest(
            resource_names=[f"projects/{project}"],
            filter=filter_,
            order_by="timestamp desc" if newest_first else "timestamp asc",
            page_size=min(page_size, limit),
        )

        def call() -> list[LogEntry]:
            pager = self.clients.logging.list_log_entries(request=request, retry=self.clients.retry(), timeout=self.clients.read_timeout)
            return [log_entry(proto) for proto in itertools.islice(pager, limit)]

        return guarded(f"ListLogEntries({project})", call)

    def write(
        self,
        project: str,
        log_id: str,
        payload: Mapping[str, Any],
        *,
        severity: str = "NOTICE",
        resource_labels: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        timestamp: float | None = None,
    ) -> None:
        from google.cloud.logging_v2.types import LogEntry as LogEntryProto
        from google.cloud.logging_v2.types import WriteLogEntriesRequest
        from google.api import monitored_resource_pb2
        from google.protobuf import struct_pb2

        struct = struct_pb2.Struct()
        struct.update(dict(payload))
        entry = LogEntryProto(
            log_name=f"projects/{project}/logs/{log_id}",
            resource=monitored_resource_pb2.MonitoredResource(
                type="cloud_run_revision", labels={"project_id": project, **(resource_labels or {})}
            ),
            json_payload=struct,
            severity=severity,
            labels=dict(labels or {}),
        )
        if timestamp is not None:
            entry.timestamp = datetime.fromtimestamp(timestamp, timezone.utc)
        request = WriteLogEntriesRequest(entries=[entry])
        guarded(
            f"WriteLogEntries({log_id})",
            lambda: self.clients.logging.write_log_entries(request=request, retry=self.clients.retry(), timeout=WRITE_TIMEOUT),
        )

    def tail(self, project: str, filter_: str) -> "TailStream":
        """Open a live tail. Iterating it blocks until entries arrive: use a worker thread only."""
        from google.cloud.logging_v2.types import TailLogEntriesRequest

        request = TailLogEntriesRequest(resource_names=[f"projects/{project}"], filter=filter_)
        call = f"TailLogEntries({project})"
        stream = guarded(call, lambda: self.clients.logging.tail_log_entries(iter([request])))
        return TailStream(call, stream)


class TailStream:
    def __init__(self, call: str, stream: Any):
        self._call = call
        self._stream = stream

    def cancel(self) -> None:
        cancel = getattr(self._stream, "cancel", None)
        if cancel is not None:
            cancel()

    def __iter__(self) -> Iterator[LogEntry]:
        try:
            for response in self._stream:
                for proto in response.entries:
                    yield log_entry(proto)
        except Exception as exc:  # noqa: BLE001 - a broken stream becomes a typed error the tail retries on
            raise api_error(self._call, exc) from exc


class LogTail:
    """A live tail in its own thread that reconnects after a broken stream, with backoff."""

    def __init__(
        self,
        logs: Logs,
        project: str,
        filter_: str,
        on_entry: Callable[[LogEntry], None],
        on_error: Callable[[ApiError], None] | None = None,
        max_backoff: float = 30.0,
    ):
        self._logs = logs
        self._project = project
        self._filter = filter_
        self._on_entry = on_entry
        self._on_error = on_error
        self._max_backoff = max_backoff
        self._stop = threading.Event()
        self._stream: TailStream | None = None
        self._thread = threading.Thread(target=self._run, name=f"log-tail-{project}", daemon=True)
        self.reconnects = 0

    def start(self) -> "LogTail":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.cancel()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._stream = self._logs.tail(self._project, self._filter)
                if self._stop.is_set():
                    self._stream.cancel()
                    return
                for entry in self._stream:
                    if self._stop.is_set():
                        return
                    backoff = 0.5
                    self._on_entry(entry)
            except ApiError as error:
                if self._on_error is not None and not self._stop.is_set():
                    self._on_error(error)
            if self._stop.wait(backoff):
                return
            self.reconnects += 1
            backoff = min(self._max_backoff, backoff * 2)


# ------------------------------------------------------------------ Cloud Run's system log (issue 14)

SYSTEM_LOG_ID = "run.googleapis.com/varlog/system"


def system_log_filter(project: str, region: str, since: float, until: float | None = None,
                      service: str | None = None) -> str:
    """Cloud Run's own WARNING-or-worse lines about containers (OOM kills, terminations, crashes)."""
    parts = [
        f'logName="projects/{project}/logs/{SYSTEM_LOG_ID.replace("/", "%2F")}"',
        'resource.type="cloud_run_revision"',
        f'resource.labels.location="{region}"',
        "severity>=WARNING",
        f'timestamp>="{rfc3339(since)}"',
    ]
    if until is not None:
        parts.append(f'timestamp<"{rfc3339(until)}"')
    if service:
        parts.append(f'resource.labels.service_name="{service}"')
    return " AND ".join(parts)


def system_log_entries(logs: Logs, project: str, region: str, since: float, until: float | None = None, *,
                       service: str | None = None, limit: int = 500) -> list[LogEntry]:
    """The system log's container events in [since, until), oldest first: one ListLogEntries call
    (a few pages at most) for every service of a project and region, or one service."""
    return logs.list(project, system_log_filter(project, region, since, until, service), newest_first=False,
                     limit=limit)
