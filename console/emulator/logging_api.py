"""Cloud Logging v2 `LoggingServiceV2`: WriteLogEntries, ListLogEntries, TailLogEntries.

Two sources of entries: the `LogStore` (what clients and the emulator itself wrote, such as the
console's audit trail, returned as written) and Cloud Run's own logs generated from the
synthetic traffic, lazily and deterministically per tick, only for the time range and
services a query or tail actually asks for:

- `projects/P/logs/run.googleapis.com%2Frequests`: a request log entry (ERROR, `httpRequest`)
  for 5xx responses, at most `MAX_LOGGED_PER_TICK` per revision and tick (sampled);
- `projects/P/logs/run.googleapis.com%2Fstderr`: for revisions whose behaviour has
  `error_messages`, an application error (ERROR, `textPayload` with the message and a Python
  stack trace) for each logged 5xx, sharing the request's trace;
- `projects/P/logs/run.googleapis.com%2Fvarlog%2Fsystem`: container starts, out-of-memory kills
  and crashes (console/emulator/system_logs.py).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import json
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import grpc

from console.emulator import filters
from console.emulator.request_logs import SimRequest, client_ip, instance_id, severity_of, simulate_requests
from console.emulator.system_logs import SYSTEM_LOG_ID, system_records
from console.emulator.traffic import TICK_SECONDS, Traffic

if TYPE_CHECKING:  # pragma: no cover
    from console.clock import Clock
    from console.emulator.fleet import Fleet, SimService

SERVICE = "google.logging.v2.LoggingServiceV2"
REQUESTS_LOG_ID = "run.googleapis.com/requests"
STDERR_LOG_ID = "run.googleapis.com/stderr"
RUN_LOG_IDS = (REQUESTS_LOG_ID, STDERR_LOG_ID, SYSTEM_LOG_ID)
_REQUESTS_ENC = quote(REQUESTS_LOG_ID, safe="")
_STDERR_ENC = quote(STDERR_LOG_ID, safe="")
MAX_LOGGED_PER_TICK = 20
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
CHUNK_SECONDS = 300  # generated logs are produced in chunks of this much clock time
TAIL_POLL_SECONDS = 1.0  # clock seconds between a tail's looks at newly received generated entries
MAX_INGESTION_LAG_SECONDS = 90.0  # generated entries arrive within this of their timestamp (latency + lag)
GENERATED_CACHE_RECORDS = 200_000  # generated entries kept (whole revision ticks, least recently used out)


class Invalid(ValueError):
    """Becomes INVALID_ARGUMENT with this message."""


def _pb_classes() -> dict[str, Any]:
    from google.cloud.logging_v2 import types

    return {
        "LogEntry": types.LogEntry.pb(),
        "WriteRequest": types.WriteLogEntriesRequest.pb(),
        "WriteResponse": types.WriteLogEntriesResponse.pb(),
        "ListRequest": types.ListLogEntriesRequest.pb(),
        "ListResponse": types.ListLogEntriesResponse.pb(),
        "TailRequest": types.TailLogEntriesRequest.pb(),
        "TailResponse": types.TailLogEntriesResponse.pb(),
    }


def normalize_log_name(log_name: str) -> str:
    """`projects/P/logs/a/b` → `projects/P/logs/a%2Fb` (the log id is URL-encoded)."""
    head, sep, log_id = log_name.partition("/logs/")
    if not sep or not head.startswith("projects/") or "/" in head[len("projects/"):] or not log_id:
        raise Invalid(f"log_name must look like \"projects/PROJECT_ID/logs/LOG_ID\", not {log_name!r}")
    return f"{head}/logs/{quote(unquote(log_id), safe='')}"


def project_of(log_name: str) -> str:
    return log_name.split("/", 2)[1] if log_name.startswith("projects/") else ""


def _ts_of(pb_ts: Any) -> float:
    return pb_ts.seconds + pb_ts.nanos / 1e9


def _set_ts(pb_ts: Any, t: float) -> None:
    seconds = math.floor(t)
    pb_ts.seconds = seconds
    pb_ts.nanos = min(999_999_999, int(round((t - seconds) * 1e9)))


def record_of(entry: Any) -> dict:
    """The filterable view of a LogEntry protobuf: camelCase keys as the filter language spells them."""
    from google.protobuf import json_format

    record = json_format.MessageToDict(entry, preserving_proto_field_name=False)
    record["timestamp"] = _ts_of(entry.timestamp)
    if entry.HasField("receive_timestamp"):
        record["receiveTimestamp"] = _ts_of(entry.receive_timestamp)
    record["severity"] = int(entry.severity)
    record.setdefault("logName", entry.log_name)
    return record


# ---------------------------------------------------------------------------------------------
# The store of written entries


class _Stored:
    __slots__ = ("key", "seq", "pb", "record", "project")

    def __init__(self, key: tuple[float, str], seq: int, pb: Any, record: dict):
        self.key = key
        self.seq = seq
        self.pb = pb
        self.record = record
        self.project = project_of(pb.log_name)


class LogStore:
    """Log entries written to the emulator; thread-safe. `changed` is notified on every write."""

    def __init__(self, clock: Clock | None = None):
        self.clock = clock
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self._by_time: list[_Stored] = []  # sorted by (timestamp, insert_id)
        self._keys: list[tuple[float, str]] = []
        self._by_seq: list[_Stored] = []  # in write order
        self._ids = itertools.count(1)
        self.closed = False

    def stop(self) -> None:
        """Wake every waiting tail so that it ends (the emulator is shutting down)."""
        with self._lock:
            self.closed = True
            self.changed.notify_all()

    def _now(self) -> float:
        return self.clock.now() if self.clock is not None else time.time()

    @property
    def seq(self) -> int:
        with self._lock:
            return len(self._by_seq)

    def __len__(self) -> int:
        return self.seq

    def write(self, entries: Iterable[Any]) -> list[Any]:
        """Store entries (LogEntry protobufs, proto-plus LogEntry objects or dicts in the API's
        snake_case shape). Timestamp defaults to now, insert_id to a fresh id. Returns the stored
        protobufs."""
        LogEntry = _pb_classes()["LogEntry"]
        prepared = []
        now = self._now()
        for entry in entries:
            pb = _to_pb(entry, LogEntry)
            if not pb.log_name:
                raise Invalid("every log entry needs a log_name (on the entry or the request)")
            pb.log_name = normalize_log_name(pb.log_name)
            if not pb.HasField("timestamp"):
                _set_ts(pb.timestamp, now)
            if not pb.HasField("receive_timestamp"):
                _set_ts(pb.receive_timestamp, now)
            prepared.append(pb)
        with self._lock:
            for pb in prepared:
                if not pb.insert_id:
                    # rising ids: entries with equal timestamps list in write order (ties sort by insert_id)
                    n = next(self._ids)
                    pb.insert_id = f"{n:010x}{hashlib.sha1(str(n).encode()).hexdigest()[:6]}"
                item = _Stored((_ts_of(pb.timestamp), pb.insert_id), len(self._by_seq) + 1, pb, record_of(pb))
                index = bisect.bisect_right(self._keys, item.key)
                self._keys.insert(index, item.key)
                self._by_time.insert(index, item)
                self._by_seq.append(item)
            self.changed.notify_all()
        return prepared

    def between(self, lo: float, hi: float) -> list[_Stored]:
        """Stored entries with lo <= timestamp < hi, oldest first."""
        with self._lock:
            i = bisect.bisect_left(self._keys, (lo, ""))
            j = bisect.bisect_left(self._keys, (hi, ""))
            return self._by_time[i:j]

    def after(self, seq: int) -> list[_Stored]:
        """Entries written after the seq-th write (for tails)."""
        with self._lock:
            return self._by_seq[seq:]

    def entries(self) -> list[Any]:
        """Every stored entry protobuf, oldest first (for tests and debugging)."""
        with self._lock:
            return [item.pb for item in self._by_time]


def _to_pb(entry: Any, LogEntry: Any) -> Any:
    if isinstance(entry, LogEntry):
        pb = LogEntry()
        pb.CopyFrom(entry)
        return pb
    inner = getattr(type(entry), "pb", None)
    if inner is not None and hasattr(entry, "_pb"):
        pb = LogEntry()
        pb.CopyFrom(type(entry).pb(entry))
        return pb
    if isinstance(entry, dict):
        from google.cloud.logging_v2.types import LogEntry as PlusEntry

        data = dict(entry)
        for key in ("timestamp", "receive_timestamp"):
            if isinstance(data.get(key), (int, float)):
                data[key] = datetime.fromtimestamp(data[key], UTC)
        return PlusEntry.pb(PlusEntry(data))
    raise TypeError(f"cannot store {type(entry).__name__} as a log entry")


# ---------------------------------------------------------------------------------------------
# Cloud Run's own logs, generated from the traffic


_BACKEND_PATHS = ("/api/stock/{ticker}", "/api/stock/{ticker}/history", "/api/portfolio", "/api/search?q={ticker}",
                  "/api/watchlist", "/api/quotes?symbols={ticker},{ticker2}")
_FRONTEND_PATHS = ("/", "/dashboard", "/stock/{ticker}", "/portfolio", "/_next/data/build/{ticker}.json")
_TICKERS = ("AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "TSLA", "META", "BRK.B", "JPM", "V", "ASML", "SAP")
_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "vinsight-frontend/1.0 (+https://vinsight.example)",
    "python-httpx/0.28.1",
)


class _Filler(dict):
    """Values for `{placeholders}` in error messages: numbers and ids that vary per entry."""

    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        r = self.rng
        makers = {
            "ip": lambda: f"10.{r.randint(0, 9)}.{r.randint(0, 255)}.{r.randint(2, 254)}",
            "port": lambda: str(r.choice((5432, 6379, 443, 8080))),
            "ms": lambda: str(r.choice((1000, 2000, 5000, 10000, 30000))),
            "n": lambda: str(r.randint(1, 500)),
            "line": lambda: str(r.randint(20, 400)),
            "id": lambda: f"{r.getrandbits(48):012x}",
            "user": lambda: str(r.randint(1000, 99999)),
            "ticker": lambda: r.choice(_TICKERS),
        }
        return makers.get(key, lambda: str(r.randint(1, 9999)))()


def _fill(message: str, rng: random.Random) -> str:
    if "{" not in message:
        return message
    try:
        return message.format_map(_Filler(rng))
    except (ValueError, IndexError, AttributeError):
        return message


def _traceback_for(message: str, rng: random.Random) -> str:
    """A realistic Python stack trace ending in `message` (used when the message has none)."""
    exc = message.split(":", 1)[0].strip()
    if "psycopg" in exc or "asyncpg" in exc or "sqlalchemy" in exc.lower():
        frames = [("/app/vinsight/api.py", rng.randint(120, 220), "portfolio", "rows = await db.fetch_positions(user.id)"),
                  ("/app/vinsight/db.py", rng.randint(40, 120), "fetch_positions", "async with self.pool.acquire() as conn:")]
    elif exc in ("KeyError", "IndexError", "TypeError", "ValueError", "ZeroDivisionError", "AttributeError"):
        frames = [("/app/vinsight/api.py", rng.randint(120, 220), "stock", "return render_quote(score(quote))"),
                  ("/app/vinsight/score.py", rng.randint(150, 260), "score", "weights = WEIGHTS[quote.symbol]")]
    elif "Timeout" in exc or "timeout" in message:
        frames = [("/app/vinsight/quotes.py", rng.randint(60, 120), "fetch_chart", "resp = await client.get(url, timeout=30)"),
                  ("/usr/local/lib/python3.11/site-packages/httpx/_client.py", 1814, "get", "return await self.request(")]
    else:
        frames = [("/app/vinsight/api.py", rng.randint(100, 240), "handle", "return await handler(request)")]
    lines = ["Traceback (most recent call last):",
             '  File "/usr/local/lib/python3.11/site-packages/starlette/routing.py", line 74, in app',
             "    response = await func(request)"]
    for path, line, fn, code in frames:
        lines.append(f'  File "{path}", line {line}, in {fn}')
        lines.append(f"    {code}")
    lines.append(message)
    return "\n".join(lines)


def _resource(svc: SimService, revision: str) -> dict:
    return {"type": "cloud_run_revision", "labels": {
        "project_id": svc.project, "location": svc.region, "service_name": svc.name,
        "revision_name": revision, "configuration_name": svc.name}}


def _service_host(svc: SimService) -> str:
    digest = hashlib.sha1(f"{svc.project}/{svc.name}".encode()).hexdigest()
    return f"{svc.name}-{int(digest[:8], 16) % 10**10:010d}.{svc.region}.run.app"


class Generator:
    """Cloud Run request and stderr log records per revision tick, deterministic, cached.

    `request_logs=False` models a project whose exclusion filter drops Cloud Run's request log
    (`vinconsole emulator --request-logs off`); application errors on stderr remain.
    """

    def __init__(self, fleet: Fleet, traffic: Traffic, request_logs: bool = True):
        self.fleet = fleet
        self.traffic = traffic
        self.request_logs = request_logs
        self._cache: OrderedDict[tuple, list[dict]] = OrderedDict()
        self._cached_records = 0
        self._lock = threading.Lock()
        self.generated = 0  # records generated (not served from the cache), for benchmarks

    def records(self, svc: SimService, after: float, until: float, revisions: set[str] | None = None,
                *, with_requests: bool = True, with_app_errors: bool = True) -> list[dict]:
        """Records from the service's ticks ending in (after, until], revisions optionally narrowed,
        the tick under way included once final (callers list only what was received by now);
        `with_requests=False` when the query cannot match a request log entry (it skips the bulk),
        `with_app_errors=False` too when it cannot match an application error (only the system log)."""
        with_requests = with_requests and self.request_logs
        out: list[dict] = []
        for tick in self.traffic.ticks(svc, after, until, in_progress=True):
            for name, rt in tick.revisions.items():
                if revisions is not None and name not in revisions:
                    continue
                out.extend(system_records(svc, name, rt, self.fleet.seed))  # container starts, OOM kills, crashes
                if not (rt.requests if with_requests else rt.errors if with_app_errors else 0):
                    continue
                key = (svc.project, svc.region, svc.name, name, rt.start, rt.end, with_requests)
                with self._lock:
                    cached = self._cache.get(key)
                    if cached is not None:
                        self._cache.move_to_end(key)
                if cached is None:
                    cached = self._generate(svc, name, rt, with_requests)
                    with self._lock:
                        self.generated += len(cached)
                        self._cache[key] = cached
                        self._cached_records += len(cached)
                        while self._cached_records > GENERATED_CACHE_RECORDS and len(self._cache) > 1:
                            self._cached_records -= len(self._cache.popitem(last=False)[1])
                out.extend(cached)
        return out

    def _generate(self, svc: SimService, revision: str, rt: Any, with_requests: bool) -> list[dict]:
        """The tick's request log entries (every request, unless request logs are off) and an
        application error on stderr for each of up to `MAX_LOGGED_PER_TICK` of its 5xx."""
        seed = f"{self.fleet.seed}/{svc.project}/{svc.region}/{svc.name}/{revision}/{int(rt.start)}/{int(rt.end)}"
        rng = random.Random(f"logs/{seed}")
        rev = svc.revisions.get(revision)
        b = rev.behavior_at((rt.start + rt.end) / 2) if rev is not None else None
        requests = simulate_requests(f"requests/{seed}", rt)
        failures = [r for r in requests if r.status >= 500]
        if len(failures) > MAX_LOGGED_PER_TICK:
            failures = sorted(rng.sample(failures, MAX_LOGGED_PER_TICK), key=lambda r: r.timestamp)
        resource = _resource(svc, revision)
        requests_log = f"projects/{svc.project}/logs/{_REQUESTS_ENC}"
        records = [self._request_record(svc, revision, resource, requests_log, r) for r in requests] if with_requests else []
        messages = b.error_messages if b is not None else ()
        if messages:
            stderr_log = f"projects/{svc.project}/logs/{_STDERR_ENC}"
            for r in failures:
                message = _fill(messages[(r.bits >> 232) % len(messages)], rng)
                if "Traceback (most recent call last)" not in message:
                    message = _traceback_for(message, rng)
                err_ts = min(max(rt.start, r.timestamp + r.latency * (0.5 + 0.45 * rng.random())), rt.end - 1e-3)
                records.append({
                    "logName": stderr_log,
                    "resource": resource,
                    "timestamp": err_ts,
                    "receiveTimestamp": max(err_ts + 0.2 + ((r.bits >> 240) & 0xFF) / 200.0,
                                            (rt.start + rt.end) / 2 + 0.3),
                    "severity": 500,
                    "insertId": f"{(r.bits >> 100) & (2**64 - 1):016x}",
                    "textPayload": message,
                    "trace": f"projects/{svc.project}/traces/{r.bits & (2**128 - 1):032x}",
                    "labels": {"instanceId": instance_id(svc, revision, r.instance)},
                })
        return records

    @staticmethod
    def _request_record(svc: SimService, revision: str, resource: dict, log_name: str, r: SimRequest) -> dict:
        bits = r.bits
        paths = _FRONTEND_PATHS if "frontend" in svc.name else _BACKEND_PATHS
        path = paths[(bits >> 136) % len(paths)]
        if "{" in path:
            path = path.format(ticker=_TICKERS[(bits >> 144) % len(_TICKERS)],
                               ticker2=_TICKERS[(bits >> 152) % len(_TICKERS)])
        method = "POST" if path == "/api/watchlist" and (bits >> 160) & 1 else "GET"
        return {
            "logName": log_name,
            "resource": resource,
            "timestamp": r.timestamp,
            "receiveTimestamp": r.received,
            "severity": severity_of(r.status),
            "insertId": f"{bits >> 192:016x}",
            "httpRequest": {
                "requestMethod": method,
                "requestUrl": f"https://{_service_host(svc)}{path}",
                "requestSize": str(300 + (bits >> 208) % 600),
                "status": r.status,
                "responseSize": str(90 + (bits >> 216) % 300 if r.status >= 400 else 400 + (bits >> 216) % 9000),
                "userAgent": _AGENTS[(bits >> 224) % len(_AGENTS)],
                "remoteIp": client_ip(svc, r.client),
                "serverIp": "216.239.36.53",
                "latency": f"{r.latency:.6f}s",
                "protocol": "HTTP/1.1",
            },
            "trace": f"projects/{svc.project}/traces/{bits & (2**128 - 1):032x}",
            "spanId": f"{(bits >> 64) & (2**64 - 1):016x}",
            "traceSampled": False,
            "labels": {"instanceId": instance_id(svc, revision, r.instance)},
        }


def pb_of_record(record: dict, LogEntry: Any) -> Any:
    """A LogEntry protobuf for a generated record."""
    pb = LogEntry()
    pb.log_name = record["logName"]
    pb.resource.type = record["resource"]["type"]
    pb.resource.labels.update(record["resource"]["labels"])
    _set_ts(pb.timestamp, record["timestamp"])
    _set_ts(pb.receive_timestamp, record["receiveTimestamp"])
    pb.severity = record["severity"]
    pb.insert_id = record["insertId"]
    if "textPayload" in record:
        pb.text_payload = record["textPayload"]
    http = record.get("httpRequest")
    if http:
        h = pb.http_request
        h.request_method = http["requestMethod"]
        h.request_url = http["requestUrl"]
        h.request_size = int(http["requestSize"])
        h.status = http["status"]
        h.response_size = int(http["responseSize"])
        h.user_agent = http["userAgent"]
        h.remote_ip = http["remoteIp"]
        h.server_ip = http["serverIp"]
        h.protocol = http["protocol"]
        seconds = float(http["latency"].rstrip("s"))
        h.latency.seconds = int(seconds)
        h.latency.nanos = int(round((seconds - int(seconds)) * 1e9))
    pb.trace = record.get("trace", "")
    pb.span_id = record.get("spanId", "")
    pb.labels.update(record.get("labels", {}))
    return pb


# ---------------------------------------------------------------------------------------------
# Queries


class _Source:
    """Which generated logs a filter can possibly match: services and revisions per project."""

    def __init__(self, fleet: Fleet, projects: set[str], node: filters.Node):
        self.services: list[tuple[SimService, set[str] | None]] = []
        wanted = _wanted_run_logs(node, projects)
        self.with_requests = REQUESTS_LOG_ID in wanted
        self.with_app_errors = STDERR_LOG_ID in wanted
        if not wanted:
            return
        rtypes = filters.allowed_values(node, ("resource", "type"))
        if rtypes is not None and "cloud_run_revision" not in rtypes:
            return
        if any(_needs_field_generated_logs_lack(term) for term in filters.conjuncts(node)):
            return
        names = filters.allowed_values(node, ("resource", "labels", "service_name"))
        revisions = filters.allowed_values(node, ("resource", "labels", "revision_name"))
        locations = filters.allowed_values(node, ("resource", "labels", "location"))
        for svc in fleet.services():
            if svc.project not in projects:
                continue
            if names is not None and svc.name not in names:
                continue
            if locations is not None and svc.region not in locations:
                continue
            self.services.append((svc, revisions))


def _wanted_run_logs(node: filters.Node, projects: set[str]) -> set[str]:
    """Which of Cloud Run's logs (RUN_LOG_IDS) the filter may match: the generator skips the bulk of
    request entries when the filter surely excludes the request log (e.g. the incident view's
    `logName != ".../run.googleapis.com%2Frequests"`), and every request when it reads only the
    system log (the saturation read)."""
    names = {lid: {f"projects/{p}/logs/{lid}" for p in projects} for lid in RUN_LOG_IDS}
    wanted = set(RUN_LOG_IDS)
    log_names = filters.allowed_values(node, ("logName",))
    if log_names is not None:
        allowed = {unquote(n) for n in log_names}
        wanted = {lid for lid in wanted if names[lid] & allowed}
    for term in filters.conjuncts(node):
        if not isinstance(term, filters.Compare):
            continue
        if term.path == ("logName",) and term.op == "!=":
            wanted -= {lid for lid in RUN_LOG_IDS if unquote(str(term.value)) in names[lid]}
        if term.op == "log_id":
            wanted &= {unquote(str(term.value))}
    return wanted


_GENERATED_LABELS = {"instanceId"}
_ABSENT_FROM_GENERATED = {"jsonPayload", "protoPayload", "operation", "sourceLocation"}


def _needs_field_generated_logs_lack(term: filters.Node) -> bool:
    """A conjunct that only entries with e.g. a jsonPayload can satisfy (audit queries)."""
    if not isinstance(term, filters.Compare) or term.op in ("!=", "!~", "log_id"):
        return False
    head = term.path[0]
    if head in _ABSENT_FROM_GENERATED:
        return True
    return head == "labels" and len(term.path) > 1 and term.path[1] not in _GENERATED_LABELS


def _parse_projects(resource_names: Iterable[str]) -> set[str]:
    projects = set()
    for name in resource_names:
        if not name.startswith("projects/") or "/" in name[len("projects/"):] or name == "projects/":
            raise Invalid(f"resource_names: {name!r} is not supported by the emulator (use \"projects/PROJECT_ID\")")
        projects.add(name[len("projects/"):])
    if not projects:
        raise Invalid("resource_names is required (e.g. [\"projects/PROJECT_ID\"])")
    return projects


def _parse_filter(text: str) -> filters.Node:
    try:
        return filters.parse_logging(text)
    except filters.FilterError as exc:
        raise Invalid(f"Invalid filter: {exc}") from None


class Query:
    """ListLogEntries over the store and the generated logs, in timestamp order, paged."""

    def __init__(self, fleet: Fleet, logs: LogStore, generator: Generator, traffic: Traffic):
        self.fleet = fleet
        self.logs = logs
        self.generator = generator
        self.traffic = traffic

    def run(self, projects: set[str], node: filters.Node, descending: bool, limit: int,
            after_key: tuple[float, str] | None) -> tuple[list[tuple[tuple[float, str], dict, Any]], bool]:
        """Up to `limit` (key, record, stored pb or None) after `after_key`; and whether more remain."""
        now = self.traffic.now()
        lo, hi = filters.time_bounds(node)
        source = _Source(self.fleet, projects, node)
        gen_lo = max(self.traffic.history_start, lo if lo is not None else -math.inf)
        gen_hi = min(now, hi if hi is not None else math.inf)
        if after_key is not None:
            if descending:
                gen_hi = min(gen_hi, after_key[0] + 1e-9)
            else:
                gen_lo = max(gen_lo, after_key[0] - 1e-9)
        segments: list[tuple[float, float, bool]] = []  # [a, b) and whether to generate
        if source.services and gen_hi > gen_lo:
            a: float = math.floor(gen_lo / CHUNK_SECONDS) * CHUNK_SECONDS
            segments.append((-math.inf, a, False))
            while a < gen_hi:
                segments.append((a, a + CHUNK_SECONDS, True))
                a += CHUNK_SECONDS
            segments.append((a, math.inf, False))
        else:
            segments.append((-math.inf, math.inf, False))
        if descending:
            segments.reverse()
        out: list[tuple[tuple[float, str], dict, Any]] = []
        for a, b, generate in segments:
            if after_key is not None and ((descending and a > after_key[0]) or (not descending and b < after_key[0])):
                continue
            if lo is not None and b < lo or hi is not None and a > hi:
                continue
            found: list[tuple[tuple[float, str], dict, Any]] = []
            for item in self.logs.between(a, b):
                if item.project in projects and filters.matches(node, item.record):
                    found.append((item.key, item.record, item.pb))
            if generate:
                for svc, revisions in source.services:
                    for record in self.generator.records(svc, a, b, revisions, with_requests=source.with_requests,
                                                           with_app_errors=source.with_app_errors):
                        # not listed before Logging has received it (the ingestion lag)
                        if record["receiveTimestamp"] <= now and filters.matches(node, record):
                            found.append(((record["timestamp"], record["insertId"]), record, None))
            found.sort(key=lambda f: f[0], reverse=descending)
            for f in found:
                if after_key is not None and ((f[0] <= after_key) if not descending else (f[0] >= after_key)):
                    continue
                out.append(f)
            if len(out) > limit:
                return out[:limit], True
        return out, False


def _fingerprint(resource_names: Iterable[str], filter_: str, order_by: str) -> str:
    return hashlib.sha256(json.dumps([sorted(resource_names), filter_, order_by]).encode()).hexdigest()[:16]


def _encode_token(key: tuple[float, str], fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"t": repr(key[0]), "i": key[1], "f": fingerprint}).encode()).decode()


def _decode_token(token: str, fingerprint: str) -> tuple[float, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        key, fp = (float(data["t"]), str(data["i"])), str(data["f"])
    except Exception:  # noqa: BLE001 - any garbage is one answer
        raise Invalid(f"page_token {token!r} is not a token this API returned") from None
    if fp != fingerprint:
        raise Invalid("page_token does not belong to this request (resource_names, filter or order_by changed)")
    return key


def _order(order_by: str) -> bool:
    """True for descending."""
    text = " ".join(order_by.lower().split())
    if text in ("", "timestamp", "timestamp asc"):
        return False
    if text == "timestamp desc":
        return True
    raise Invalid(f"order_by must be \"timestamp asc\" or \"timestamp desc\", not {order_by!r}")


# ---------------------------------------------------------------------------------------------
# gRPC


def handlers(fleet: Fleet, logs: LogStore, traffic: Traffic,
             quotas: LogQuotas | None = None, request_logs: bool = True) -> list[grpc.GenericRpcHandler]:
    """The gRPC handlers of google.logging.v2.LoggingServiceV2 (Write, List, Tail).

    `quotas` enforces Cloud Logging's read quota and tail session limit (none when not given);
    `request_logs=False`: Cloud Run's request log is excluded (no `run.googleapis.com/requests`)."""
    pb = _pb_classes()
    LogEntry = pb["LogEntry"]
    if logs.clock is None:
        logs.clock = fleet.clock
    generator = Generator(fleet, traffic, request_logs=request_logs)
    query = Query(fleet, logs, generator, traffic)

    def write_log_entries(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            entries = []
            default_name = normalize_log_name(request.log_name) if request.log_name else ""
            for index, given in enumerate(request.entries):
                entry = LogEntry()
                entry.CopyFrom(given)
                if not entry.log_name:
                    if not default_name:
                        raise Invalid(f"entries[{index}].log_name is required (or set log_name on the request)")
                    entry.log_name = default_name
                if not entry.HasField("resource"):
                    if request.HasField("resource"):
                        entry.resource.CopyFrom(request.resource)
                    else:
                        entry.resource.type = "global"
                        entry.resource.labels["project_id"] = project_of(normalize_log_name(entry.log_name))
                for k, v in request.labels.items():
                    if k not in entry.labels:
                        entry.labels[k] = v
                entries.append(entry)
            if not entries:
                raise Invalid("entries must not be empty")
            if not request.dry_run:
                logs.write(entries)
            return pb["WriteResponse"]()
        except Invalid as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def list_log_entries(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            projects = _parse_projects(request.resource_names)
            if quotas is not None:
                quotas.admit_list(projects, context)
            node = _parse_filter(request.filter)
            descending = _order(request.order_by)
            if request.page_size < 0 or request.page_size > MAX_PAGE_SIZE:
                raise Invalid(f"page_size must be between 0 and {MAX_PAGE_SIZE}, not {request.page_size}")
            size = request.page_size or DEFAULT_PAGE_SIZE
            fingerprint = _fingerprint(request.resource_names, request.filter, request.order_by)
            after = _decode_token(request.page_token, fingerprint) if request.page_token else None
            found, more = query.run(projects, node, descending, size, after)
            response = pb["ListResponse"]()
            for _key, record, stored in found:
                response.entries.append(stored if stored is not None else pb_of_record(record, LogEntry))
            if more and found:
                response.next_page_token = _encode_token(found[-1][0], fingerprint)
            return response
        except Invalid as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def tail_log_entries(request_iterator: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        first = next(request_iterator, None)
        if first is None:
            return
        try:
            projects = _parse_projects(first.resource_names)
            node = _parse_filter(first.filter)
        except Invalid as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return
        if quotas is None:
            yield from _tail(projects, node, context)
            return
        quotas.open_tail(projects, context)
        closed = threading.Event()

        def close() -> None:  # once, as soon as the call ends (a client's cancel included)
            if not closed.is_set():
                closed.set()
                quotas.close_tail(projects)

        context.add_callback(close)
        try:
            yield from _tail(projects, node, context)
        finally:
            close()

    def _tail(projects: set[str], node: filters.Node, context: grpc.ServicerContext) -> Iterator[Any]:
        stop = threading.Event()

        def on_done() -> None:
            stop.set()
            with logs.changed:
                logs.changed.notify_all()

        context.add_callback(on_done)
        opened = traffic.now()
        seq = logs.seq
        source = _Source(fleet, projects, node)
        # generated entries are streamed once Logging has received them: receiveTimestamp in
        # (delivered_until, now], looking back over the ticks whose entries may still arrive
        delivered_until = opened
        while not stop.is_set() and not logs.closed and context.is_active():
            batch: list[tuple[tuple[float, str], Any]] = []
            for item in logs.after(seq):
                seq = item.seq
                if item.project in projects and filters.matches(node, item.record):
                    batch.append((item.key, item.pb))
            now = traffic.now()
            if source.services and now > delivered_until:
                batch.extend(_received(source, node, delivered_until, now))
                delivered_until = now
            if batch:
                batch.sort(key=lambda b: b[0])
                response = pb["TailResponse"]()
                for _key, item in batch:
                    response.entries.append(item if not isinstance(item, dict) else pb_of_record(item, LogEntry))
                yield response
                continue
            with logs.changed:
                if logs.seq == seq and not stop.is_set() and not logs.closed:
                    wait = fleet.clock.real_seconds(TAIL_POLL_SECONDS)
                    logs.changed.wait(timeout=min(1.0, max(0.05, wait)))

    def _received(source: _Source, node: filters.Node, after: float, until: float) -> list[tuple[tuple[float, str], dict]]:
        """Generated entries that Logging received in (after, until]."""
        out = []
        lookback = after - MAX_INGESTION_LAG_SECONDS - TICK_SECONDS
        for svc, revisions in source.services:
            # every tick up to the one under way (received by `until` is the filter): an entry received
            # before its tick ends must not be skipped
            for record in generator.records(svc, lookback, math.inf, revisions, with_requests=source.with_requests,
                                             with_app_errors=source.with_app_errors):
                if after < record["receiveTimestamp"] <= until and filters.matches(node, record):
                    out.append(((record["timestamp"], record["insertId"]), record))
        return out

    return [
        grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "WriteLogEntries": grpc.unary_unary_rpc_method_handler(
                    write_log_entries,
                    request_deserializer=pb["WriteRequest"].FromString,
                    response_serializer=lambda m: m.SerializeToString(),
                ),
                "ListLogEntries": grpc.unary_unary_rpc_method_handler(
                    list_log_entries,
                    request_deserializer=pb["ListRequest"].FromString,
                    response_serializer=lambda m: m.SerializeToString(),
                ),
                "TailLogEntries": grpc.stream_stream_rpc_method_handler(
                    tail_log_entries,
                    request_deserializer=pb["TailRequest"].FromString,
                    response_serializer=lambda m: m.SerializeToString(),
                ),
            },
        )
    ]


# ---------------------------------------------------------------------------------------------
# Quotas (kept apart from the handlers above)


class LogQuotas:
    """Cloud Logging's limits that a console must live within, enforced and measured.

    - ListLogEntries: `reads_per_minute` (60) requests per project per minute of the emulator's
      clock, then RESOURCE_EXHAUSTED (the real quota is per real minute and cannot be raised);
    - TailLogEntries: at most `tail_sessions` (10) open sessions per project; one more is refused
      with RESOURCE_EXHAUSTED.

    `reads` keeps the clock time of every accepted read per project and `max_tails` the most
    sessions a project had open at once, for tests and bench/console.py.
    """

    def __init__(self, clock: Clock, reads_per_minute: int | None = 60, tail_sessions: int | None = 10):
        self.clock = clock
        self.reads_per_minute = reads_per_minute
        self.tail_sessions = tail_sessions
        self._lock = threading.Lock()
        self.reads: dict[str, list[float]] = {}
        self.refused_reads: dict[str, int] = {}
        self.open_tails: dict[str, int] = {}
        self.max_tails: dict[str, int] = {}

    def admit_list(self, projects: set[str], context: grpc.ServicerContext) -> None:
        now = self.clock.now()
        with self._lock:
            for project in sorted(projects):
                recent = [t for t in self.reads.get(project, ()) if t > now - 60.0]
                if self.reads_per_minute is not None and len(recent) >= self.reads_per_minute:
                    self.refused_reads[project] = self.refused_reads.get(project, 0) + 1
                    refused = project
                    break
            else:
                for project in projects:
                    self.reads.setdefault(project, []).append(now)
                return
        context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute' of service "
            f"'logging.googleapis.com' for consumer 'project_number:{refused}' ({self.reads_per_minute} per minute).",
        )

    def open_tail(self, projects: set[str], context: grpc.ServicerContext) -> None:
        with self._lock:
            full = [p for p in sorted(projects)
                    if self.tail_sessions is not None and self.open_tails.get(p, 0) >= self.tail_sessions]
            if not full:
                for project in projects:
                    self.open_tails[project] = self.open_tails.get(project, 0) + 1
                    self.max_tails[project] = max(self.max_tails.get(project, 0), self.open_tails[project])
                return
        context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"Live tail session limit reached for project {full[0]}: at most {self.tail_sessions} sessions at once.",
        )

    def close_tail(self, projects: set[str]) -> None:
        with self._lock:
            for project in projects:
                self.open_tails[project] = max(0, self.open_tails.get(project, 0) - 1)

    def reads_per_minute_of(self, project: str, since: float, until: float) -> tuple[float, int]:
        """(mean reads per minute over [since, until), the most in any minute starting at a read)."""
        with self._lock:
            times = [t for t in self.reads.get(project, ()) if since <= t < until]
        minutes = max(1e-9, (until - since) / 60.0)
        busiest = max((sum(1 for u in times if t <= u < t + 60.0) for t in times), default=0)
        return len(times) / minutes, busiest
