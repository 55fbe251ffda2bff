"""Error signatures: one message with its numbers, ids and addresses normalised away (pure).

    "upstream timed out after 30s: GET http://10.0.3.7:8080/users/48213"
        → "upstream timed out after <n>s: GET http://<ip>/users/<n>"

Only the line that names the error counts: for a Python stack trace, the exception line at its
end (`KeyError: '<*>'`); otherwise the first line. Entries with the same signature form one
group, which keeps one whole entry (with its stack trace) as the example.

Applications that print to stderr without structured (JSON) logging give Cloud Logging one
entry per line with no severity (DEFAULT): a stack trace arrives as a dozen entries.
`stitch_tracebacks` joins such lines back into one message per trace (same instance, in order,
no gap over STITCH_GAP_SECONDS), and among DEFAULT entries only those that read like an error
(`looks_like_error`) are grouped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from console.gcp.logs import LogEntry

TRACEBACK = "Traceback (most recent call last):"
# Lines of one stack trace printed to stderr arrive within milliseconds of each other.
STITCH_GAP_SECONDS = 2.0
_CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
_ERROR_WORDS = re.compile(
    r"Traceback \(most recent call last\)|\b\w*(?:Error|Exception)\b|\b(?:ERROR|CRITICAL|FATAL|panic|Fatal)\b"
)

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


def looks_like_error(text: str) -> bool:
    """Whether a line with no severity reads like an error (a stack trace, an exception, ERROR/FATAL)."""
    return bool(_ERROR_WORDS.search(text or ""))


def _stream_of(entry: LogEntry) -> tuple[str, str, str]:
    return (entry.log_name, entry.resource_labels.get("revision_name", ""), entry.labels.get("instanceId", ""))


def stitch_tracebacks(entries: Iterable[LogEntry]) -> list[LogEntry]:
    """Entries with plain stderr stack traces (one line per entry, no severity) joined back into one
    entry per trace, the first line's timestamp and insert id kept; other entries unchanged. Oldest first."""
    ordered = sorted(entries, key=lambda e: (e.timestamp, e.insert_id))
    out: list[LogEntry] = []
    open_blocks: dict[tuple[str, str, str], list[LogEntry]] = {}

    def close(stream: tuple[str, str, str]) -> None:
        block = open_blocks.pop(stream, None)
        if block:
            out.append(replace(block[0], text="\n".join(e.text for e in block)))

    for entry in ordered:
        if entry.severity != "DEFAULT":
            out.append(entry)
            continue
        stream = _stream_of(entry)
        block = open_blocks.get(stream)
        line = entry.text.rstrip("\n")
        if block is not None and entry.timestamp - block[-1].timestamp > STITCH_GAP_SECONDS:
            close(stream)
            block = None
        if line.startswith(TRACEBACK):
            if block is not None and not block[-1].text.startswith(_CHAINED):
                close(stream)
                block = None
            if block is None:
                open_blocks[stream] = block = []
            block.append(entry)
        elif block is not None:
            block.append(entry)
            ends = line and not line.startswith((" ", "\t")) and not line.startswith(_CHAINED)
            if ends:  # the exception line names the error and ends the trace
                close(stream)
        else:
            out.append(entry)
    for stream in list(open_blocks):
        close(stream)
    return sorted(out, key=lambda e: (e.timestamp, e.insert_id))


def groupable(entries: Iterable[LogEntry]) -> list[LogEntry]:
    """What error grouping counts: stderr stack traces stitched, DEFAULT lines only if they read like errors."""
    return [e for e in stitch_tracebacks(entries) if e.severity != "DEFAULT" or looks_like_error(e.text)]


class TracebackStitcher:
    """`stitch_tracebacks` for a live tail: lines go in one at a time; whole messages come out once
    their trace has ended (its exception line arrived, or STITCH_GAP_SECONDS passed)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str, str], list[LogEntry]] = {}

    def feed(self, entry: LogEntry) -> list[LogEntry]:
        """Entries ready to be counted after `entry` (possibly none yet, possibly an older trace)."""
        if entry.severity != "DEFAULT":
            return [entry]
        stream = _stream_of(entry)
        pending = self._pending.pop(stream, [])
        ready: list[LogEntry] = []
        if pending and entry.timestamp - pending[-1].timestamp > STITCH_GAP_SECONDS:
            ready, pending = groupable(pending), []
        if not pending and not entry.text.startswith(TRACEBACK):
            return ready + groupable([entry])
        pending.append(entry)
        if _trace_ended(pending):
            return ready + groupable(pending)
        self._pending[stream] = pending
        return ready

    def flush(self, now: float) -> list[LogEntry]:
        """Traces whose last line is older than STITCH_GAP_SECONDS at `now` (nothing more will come)."""
        ready: list[LogEntry] = []
        for stream, pending in list(self._pending.items()):
            if now - pending[-1].timestamp > STITCH_GAP_SECONDS:
                ready.extend(groupable(pending))
                del self._pending[stream]
        return ready


def _trace_ended(lines: list[LogEntry]) -> bool:
    last = lines[-1].text.rstrip("\n")
    return len(lines) > 1 and bool(last) and not last.startswith((" ", "\t", TRACEBACK)) and not last.startswith(_CHAINED)


def group_errors(entries: Iterable[LogEntry]) -> list[ErrorGroup]:
    """Entries grouped by signature, most frequent first (then the most recent); plain stderr stack
    traces are stitched first (see `groupable`)."""
    groups: dict[str, ErrorGroup] = {}
    for entry in groupable(entries):
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
