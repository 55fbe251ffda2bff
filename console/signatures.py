"""Error signatures: one message with its numbers, ids and addresses normalised away (pure).

    "upstream timed out after 30s: GET http://10.0.3.7:8080/users/48213"
        → "upstream timed out after <n>s: GET http://<ip>/users/<n>"

Only the line that names the error counts: for a Python stack trace, the exception line at its
end (`KeyError: '<*>'`); otherwise the first line. Entries with the same signature form one
group, which keeps one whole entry (with its stack trace) as the example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from console.gcp.logs import LogEntry

TRACEBACK = "Traceback (most recent call last):"

_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, flags), replacement)
    for pattern, replacement, flags in (
        # timestamps: 2026-03-01T12:00:00.123Z, 2026-03-01 12:00:00+00:00, 12:00:00.123
        (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?", "<ts>", 0),
        (r"\b\d{4}-\d{2}-\d{2}\b", "<ts>", 0),
        (r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<ts>", 0),
        # quoted values
        (r"'[^'\n]*'", "'<*>'", 0),
        (r'"[^"\n]*"', '"<*>"', 0),
        # UUIDs
        (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", re.I),
        # IP addresses, with an optional port
        (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<ip>", 0),
        (r"(?<![\w:])(?=[0-9a-f:]*::|(?:[0-9a-f]{1,4}:){7})[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])", "<ip>", re.I),
        # ports after a host name
        (r"(?<=[a-z0-9\]])(:\d{2,5})\b", ":<port>", re.I),
        # hex ids: 0x7f3a…, and long hex runs that contain a digit (trace ids, hashes, object ids)
        (r"\b0x[0-9a-f]+\b", "<hex>", re.I),
        (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", "<hex>", re.I),
        # path segments that are ids: /users/48213/, /orders/a81f9c…, /files/AbC123xYz987
        (r"(?<=/)(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{12,}(?=/|\?|\b)", "<id>", 0),
        # any other number not glued to a word on its left (v8, python3 stay)
        (r"(?<![\w.<])\d+(?:\.\d+)*", "<n>", 0),
    )
)


def headline(text: str) -> str:
    """The line that names the error: a stack trace's exception line, else the first line."""
    lines = [line.rstrip() for line in (text or "").splitlines()]
    if TRACEBACK in lines:
        after = lines[lines.index(TRACEBACK) + 1 :]
        # the exception line is the first line after the frames that is not indented
        for line in after:
            if line and not line.startswith((" ", "\t")):
                return line.strip()
    for line in lines:
        if line.strip():
            return line.strip()
    return ""


def normalize(message: str) -> str:
    """Numbers, ids, UUIDs, addresses, ports, quoted values and timestamps → placeholders."""
    text = " ".join(message.split())
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def signature(text: str) -> str:
    return normalize(headline(text))


def entry_text(entry: LogEntry) -> str:
    if entry.text:
        return entry.text
    if entry.http_status:
        return f"HTTP {entry.http_status}"
    return entry.severity


@dataclass
class ErrorGroup:
    signature: str
    message: str  # the headline of the example entry, as logged (not normalised)
    count: int
    first_seen: float
    last_seen: float
    revisions: dict[str, int] = field(default_factory=dict)  # revision → entries
    example: LogEntry | None = None  # one whole entry, stack trace included (the newest)

    def to_json(self) -> dict:
        return {
            "signature": self.signature,
            "message": self.message,
            "count": self.count,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "revisions": dict(self.revisions),
            "example": self.example.text if self.example else None,
        }


def group_errors(entries: Iterable[LogEntry]) -> list[ErrorGroup]:
    """Entries grouped by signature, most frequent first (then the most recent)."""
    groups: dict[str, ErrorGroup] = {}
    for entry in entries:
        text = entry_text(entry)
        key = signature(text)
        revision = entry.resource_labels.get("revision_name", "") or "?"
        group = groups.get(key)
        if group is None:
            groups[key] = ErrorGroup(key, headline(text), 1, entry.timestamp, entry.timestamp, {revision: 1}, entry)
            continue
        group.count += 1
        group.revisions[revision] = group.revisions.get(revision, 0) + 1
        group.first_seen = min(group.first_seen, entry.timestamp)
        if entry.timestamp >= group.last_seen:
            group.last_seen = entry.timestamp
            group.example = entry
            group.message = headline(text)
    return sorted(groups.values(), key=lambda g: (-g.count, -g.last_seen, g.signature))
