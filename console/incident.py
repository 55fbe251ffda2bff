"""The on-call incident view's data: what is broken now, since when, which revision, and the rollback.

Plain dataclasses for a screen to draw (no Textual here). I/O goes through console/gcp only and
is batched per project like console/status.py, so a refresh costs the same number of calls
however many revisions there are:

- `IncidentReader.overview(targets)`: per project and region, 1 ListServices + 2 ListTimeSeries
  (request counts and latencies, 60 s windows over 6 h) + 1 ListTimeSeries (request counts, 1 h
  windows over the trailing day) + 1 ListLogEntries (Cloud Run's system log: OOM kills and crashes of
  the last hour) → every service × environment ranked by severity;
- `IncidentReader.detail(target, span)`: for one service, 1 GetService + 1 ListRevisions + 2
  ListTimeSeries (the timeline) + 1 ListLogEntries (audit markers) + 1 paged ListLogEntries (error
  entries), plus the overview's 5 calls when no overview row is handed in. The two log reads are
  made at most once every LOG_REREAD_SECONDS per service and span (the live tail adds what comes
  in between): Cloud Logging allows 60 ListLogEntries per minute per project, for everyone;
- `rollback_to_last_good(...)`: `Engine.rollback_now(to=..., errors_started=...)`, which writes the
  audit entry (with when the errors started, so the history has a time to restore).

The decisions (since when, the last known good revision, timeline points, markers) are pure
functions below, tested on their own.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.distribution import Histogram, merge_all
from console.errors import ApiError
from console.gcp.logs import LogEntry
from console.gcp.monitoring import RevisionWindows, WindowStats
from console.saturation import (
    OOM_WINDOW_SECONDS,
    ContainerEvent,
    ContainerEventKind,
    container_events,
    events_by_revision,
)
from console.signatures import ErrorGroup, group_errors
from console.slo import SloSample, SloStatus, SloTargets, evaluate, severity_key, slow_count
from console.units import iso

if TYPE_CHECKING:  # pragma: no cover
    from console.clock import Clock
    from console.config import Config, Target
    from console.engine import Event, Outcome
    from console.gcp.clients import Clients
    from console.gcp.logs import TailSubscription
    from console.model import Revision

PERIOD = 60  # the overview's window (Monitoring's minimum alignment)
OVERVIEW_SECONDS = 6 * 3600  # the longest burn-rate window
BASELINE_SECONDS = 86400  # the trailing day
TIMELINE_SPANS: dict[str, int] = {"1h": 3600, "6h": 21600, "24h": 86400}
ALIGNMENTS = (60, 120, 180, 240, 300, 600, 900, 1200, 1800, 3600)
MAX_POINTS = 120
ERROR_ENTRIES_LIMIT = 5000
MARKER_KINDS = ("start", "traffic", "hold", "verdict", "promote", "rollback", "deploy", "smoke")
REQUESTS_LOG_ID = "run.googleapis.com%2Frequests"
STDERR_LOG_ID = "run.googleapis.com%2Fstderr"
# Clock seconds between two log reads of one service's detail; a refresh in between reuses them.
LOG_REREAD_SECONDS = 60.0


# --------------------------------------------------------------------------------------- the data


@dataclass
class ServiceIncident:
    """One service in one environment, as the ranked list shows it."""

    env: str
    service: str
    project: str
    region: str
    production: bool
    targets: SloTargets
    slo: SloStatus | None = None  # burn rates (5m/30m/1h/6h) and the alert
    error_rate: float | None = None  # 5xx fraction over the last 5 minutes
    baseline_error_rate: float | None = None  # 5xx fraction over the trailing day (before the last hour)
    p95_ms: float | None = None  # over the last 5 minutes, all revisions
    since: float | None = None  # when the errors began: the first window that crossed the alert's rate
    serving: dict[str, int] = field(default_factory=dict)  # revision → percent served now
    latest_window_end: float | None = None
    error: str | None = None  # the service could not be read
    windows: RevisionWindows = field(default_factory=dict, repr=False)  # 60 s windows of this service, 6 h
    # Cloud Run's system log over the last hour, for the revisions serving now (console/saturation.py)
    containers: ContainerTrouble | None = None

    @property
    def key(self) -> str:
        return f"{self.env}/{self.service}"

    @property
    def level(self) -> str:
        level = self.slo.alert.level if self.slo else "ok"
        return "page" if self.containers is not None else level  # OOM kills / crash loops: the plan's critical alert

    @property
    def reason(self) -> str:
        reason = self.slo.alert.reason if self.slo else (self.error or "")
        return self.containers.reason + (f"; {reason}" if reason else "") if self.containers is not None else reason

    def burn(self, label: str, slo: str = "availability") -> float | None:
        if self.slo is None or label not in self.slo.burns:
            return None
        return self.slo.burns[label].rate(slo)

    @property
    def severity(self) -> tuple:
        return severity_key(self.level, self.slo.max_burn() if self.slo else 0.0, self.production, self.error_rate)

    def to_json(self) -> dict[str, Any]:
        burns = {}
        if self.slo:
            burns = {label: {"availability": _r(b.availability), "latency": _r(b.latency), "requests": b.requests,
                             "errors": b.errors, "slow": b.slow} for label, b in self.slo.burns.items()}
        return {
            "env": self.env, "service": self.service, "production": self.production, "level": self.level,
            "reason": self.reason, "burn_rates": burns, "error_rate": _r(self.error_rate, 5),
            "baseline_error_rate": _r(self.baseline_error_rate, 5), "p95_ms": _r(self.p95_ms),
            "latency_target_ms": self.targets.latency_ms, "availability_target_percent": self.targets.availability_percent,
            "since": iso(self.since), "serving": dict(self.serving), "error": self.error,
            "oom_kills": self.containers.oom_kills if self.containers else 0,
            "crashes": self.containers.crashes if self.containers else 0,
        }


@dataclass(frozen=True)
class ContainerTrouble:
    """A serving revision being OOM-killed or crash-looping, from Cloud Run's system log (last hour)."""

    revision: str
    oom_kills: int
    crashes: int
    lines: tuple[str, ...]  # Cloud Run's own words, one per kind
    last_at: float | None = None

    @property
    def reason(self) -> str:
        parts = []
        if self.oom_kills:
            parts.append(f"out-of-memory kills: {self.revision} killed {self.oom_kills}× in the last hour")
        if self.crashes:
            parts.append(f"container crashes: {self.revision} exited {self.crashes}× in the last hour")
        said = " / ".join(f'"{line}"' for line in self.lines)
        return "; ".join(parts) + (f" — Cloud Run: {said}" if said else "")


def container_trouble(events: Sequence[ContainerEvent], service: str, serving: Mapping[str, int]) -> ContainerTrouble | None:
    """The serving revision with the most OOM kills and crashes in `events` (None: none of them has any)."""
    worst: ContainerTrouble | None = None
    for revision, counted in events_by_revision(events, service).items():
        if not serving.get(revision) or not (counted.oom_kills or counted.crashes):
            continue
        lines = tuple(_first_sentence(line) for line in (counted.oom_line, counted.crash_line) if line)
        found = ContainerTrouble(revision, counted.oom_kills, counted.crashes, lines, counted.last_at)
        if worst is None or (found.oom_kills + found.crashes) > (worst.oom_kills + worst.crashes):
            worst = found
    return worst


def container_markers(entries: Iterable[LogEntry], start: float, end: float) -> list[Marker]:
    """A timeline marker for each OOM kill and crash among error entries (Cloud Run's system log lines)."""
    kinds = {ContainerEventKind.OOM_KILL: "oom", ContainerEventKind.CRASH: "crash"}
    return [Marker(e.at, kinds[e.kind], "Cloud Run", f"{e.revision}: {_first_sentence(e.line)}", e.revision, source="run")
            for e in container_events(entries) if e.kind in kinds and start <= e.at <= end]


def _first_sentence(line: str) -> str:
    """"Memory limit of 512 MiB exceeded with 531 MiB used." without Cloud Run's advice after it."""
    head, dot, _rest = line.partition(". ")
    return head + dot.strip() if dot else line


@dataclass(frozen=True)
class RevisionPoint:
    start: float
    end: float
    requests: int
    errors: int
    error_rate: float | None  # None: no requests in this window
    p95_ms: float | None


@dataclass(frozen=True)
class Marker:
    at: float
    kind: str  # audit kinds (start traffic hold verdict promote rollback deploy smoke), or: created, serving, stopped, oom, crash
    actor: str  # who or what: "operator:alice@laptop", "ci:github-actions run 1 (bob)", "Cloud Run"
    message: str
    revision: str = ""
    before: Mapping[str, int] = field(default_factory=dict)
    after: Mapping[str, int] = field(default_factory=dict)
    source: str = "audit"  # audit | run (revision create times) | metrics (inferred from who served requests)

    @property
    def traffic(self) -> str:
        """"a 90 %, b 10 % → b 100 %" (empty when the entry did not move traffic)."""
        if not self.before and not self.after or dict(self.before) == dict(self.after):
            return ""
        return f"{_split(self.before)} → {_split(self.after)}"


@dataclass
class Timeline:
    span: str  # 1h | 6h | 24h
    period: int  # alignment seconds
    start: float
    end: float
    revisions: dict[str, list[RevisionPoint]]  # revision → points, oldest first
    markers: list[Marker]  # oldest first


@dataclass(frozen=True)
class LastGood:
    revision: str | None  # None: nothing to roll back to (the reason says why)
    reason: str
    served_until: float | None = None
    replaced_by: str | None = None
    error_rate_before: float | None = None
    share_before: float | None = None  # percent of the requests it served before


@dataclass(frozen=True)
class _LogRead:
    read_at: float | None
    audit: list[LogEntry]
    entries: list[LogEntry]
    calls: int = 0


@dataclass
class ServiceDetail:
    row: ServiceIncident
    timeline: Timeline
    errors: list[ErrorGroup]
    errors_complete: bool  # False: more than ERROR_ENTRIES_LIMIT entries, counts are of the newest ones
    last_good: LastGood | None
    revisions: list[Revision]
    read_at: float
    api_calls: int = 0
    logs_read_at: float | None = None  # when `errors` and the audit markers were read (they are reused)
    logs_error: str | None = None  # why the log reads were skipped or failed (quota), shown on screen


# ------------------------------------------------------------------------------------ pure parts


def hhmm(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M UTC")


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _split(split: Mapping[str, Any]) -> str:
    parts = [f"{rev} {float(pct):g} %" for rev, pct in sorted(split.items(), key=lambda i: -float(i[1])) if float(pct)]
    return ", ".join(parts) or "nothing"


def alignment_for(span_seconds: int, max_points: int = MAX_POINTS) -> int:
    """The smallest standard alignment keeping the timeline at most `max_points` long (1 h → 60 s,
    6 h → 180 s, 24 h → 900 s)."""
    for period in ALIGNMENTS:
        if span_seconds / period <= max_points:
            return period
    return ALIGNMENTS[-1]


def service_windows(windows: RevisionWindows, service: str) -> RevisionWindows:
    return {key: value for key, value in windows.items() if key[0] == service}


def samples_of(windows: RevisionWindows, service: str, latency_ms: float) -> tuple[list[SloSample], float | None]:
    """Per window end, the service's counts summed over its revisions (slow at the snapped edge)."""
    by_end: dict[float, list[WindowStats]] = defaultdict(list)
    for (svc, _rev), per_end in windows.items():
        if svc == service:
            for end, window in per_end.items():
                by_end[end].append(window)
    samples, edge = [], None
    for end in sorted(by_end):
        stats = by_end[end]
        slow_total, have_latency = 0, False
        for s in stats:
            slow, e = slow_count(s.latency, latency_ms)
            if slow is not None:
                slow_total, have_latency, edge = slow_total + slow, True, e
        samples.append(SloSample(min(s.start for s in stats), end, sum(s.requests for s in stats),
                                 sum(s.errors for s in stats), slow_total if have_latency else None))
    return samples, edge


def since_when(samples: Sequence[SloSample], budget: float, burn_rate: float, slo: str = "availability",
               recent_seconds: float = 0, quiet_seconds: float = 600) -> float | None:
    """When the errors began: the start of the stretch of windows with the most bad events beyond the
    alert's rate, among stretches that reach the newest window or end within `recent_seconds` of it
    (the alert's short window: it still pages minutes after the errors stopped).

    Each window adds bad − burn_rate·budget·requests, so a one-minute dip inside an episode does not
    split it and a lone noisy minute does not start one; `quiet_seconds` of windows all under the
    rate end an episode, so an older, resolved one is never taken for the start of this one. None
    when no such stretch has more bad events than the rate allows."""
    ordered = sorted((s for s in samples if s.end > s.start), key=lambda s: s.end)
    if not ordered:
        return None
    newest = ordered[-1].end
    prefix = 0.0  # Σ excess of windows before index j
    floor_prefix = 0.0  # the lowest prefix since the last quiet stretch,
    floor_sample: SloSample | None = None  # and the window right after it: where the run starts
    quiet = 0.0
    best, since = 0.0, None
    for sample in ordered:
        bad = sample.errors if slo == "availability" else sample.slow
        excess = 0.0 if not sample.requests or bad is None else bad - burn_rate * budget * sample.requests
        quiet = quiet + (sample.end - sample.start) if excess <= 0 else 0.0
        if quiet >= quiet_seconds:  # an episode before this cannot be part of the next one
            floor_prefix, floor_sample = prefix + excess, None
        elif prefix <= floor_prefix:  # the latest lowest point: the run starts right after it
            floor_prefix, floor_sample = prefix, sample
        prefix += excess
        recent = sample.end == newest or newest - sample.end < recent_seconds
        if recent and floor_sample is not None and prefix - floor_prefix > best:
            best, since = prefix - floor_prefix, floor_sample.start
    return since


def merged_latency(windows: RevisionWindows, service: str, lo: float, hi: float) -> Histogram | None:
    return merge_all([s.latency for (svc, _), per_end in windows.items() if svc == service
                      for end, s in per_end.items() if lo < end <= hi and s.latency is not None])


def error_rate_of(windows: RevisionWindows, service: str, lo: float, hi: float, revision: str | None = None) -> float | None:
    requests = errors = 0
    for (svc, rev), per_end in windows.items():
        if svc != service or (revision is not None and rev != revision):
            continue
        for end, s in per_end.items():
            if lo < end <= hi:
                requests += s.requests
                errors += s.errors
    return errors / requests if requests else None


def timeline_points(windows: RevisionWindows, service: str, start: float, end: float) -> dict[str, list[RevisionPoint]]:
    out: dict[str, list[RevisionPoint]] = {}
    for (svc, rev), per_end in windows.items():
        if svc != service:
            continue
        points = []
        for window_end in sorted(per_end):
            s = per_end[window_end]
            if not start < window_end <= end:
                continue
            p95 = s.latency.percentile(0.95) if s.latency is not None and s.latency.count else None
            points.append(RevisionPoint(s.start, window_end, s.requests, s.errors,
                                        s.errors / s.requests if s.requests else None, p95))
        if points:
            out[rev] = points
    return out


def _int_split(split: Any) -> dict[str, int]:
    if not isinstance(split, Mapping):
        return {}
    return {str(rev): int(round(float(pct))) for rev, pct in split.items() if float(pct or 0)}


def audit_markers(entries: Iterable[LogEntry]) -> list[Marker]:
    """A marker for every traffic change and rollout event in the audit entries (not leases, not passing smoke)."""
    out = []
    for e in entries:
        p = e.payload
        kind = str(p.get("kind", ""))
        if kind not in MARKER_KINDS or (kind == "smoke" and p.get("ok", True)):
            continue
        out.append(Marker(e.timestamp, kind, str(p.get("actor", "")), str(p.get("message", kind)),
                          str(p.get("candidate") or e.resource_labels.get("revision_name", "") or ""),
                          _int_split(p.get("before")), _int_split(p.get("after"))))
    return sorted(out, key=lambda m: m.at)


def revision_markers(revisions: Iterable[Revision], start: float, end: float) -> list[Marker]:
    return [Marker(r.created, "created", "Cloud Run", f"revision {r.name} created ({r.image.rsplit('/', 1)[-1]})",
                   r.name, source="run") for r in revisions if start <= r.created <= end]


def serving_markers(points: Mapping[str, Sequence[RevisionPoint]], start: float, end: float, period: int) -> list[Marker]:
    """Traffic changes seen in the metrics, whoever made them: a revision began or stopped serving requests."""
    out = []
    for rev, pts in points.items():
        served = [p for p in pts if p.requests > 0]
        if not served:
            continue
        first, last = served[0], served[-1]
        if first.start > start + period:
            out.append(Marker(first.start, "serving", "Cloud Run", f"{rev} began serving requests", rev, source="metrics"))
        if last.end < end - 2 * period:
            out.append(Marker(last.end, "stopped", "Cloud Run", f"{rev} stopped serving requests", rev, source="metrics"))
    return out


def last_known_good(
    windows: RevisionWindows,
    service: str,
    since: float | None,
    budget: float,
    burn_rate: float,
    markers: Sequence[Marker] = (),
    ready: Mapping[str, bool] | None = None,
    lookback: float = 3600,
) -> LastGood | None:
    """The revision that served before the errors started, and why we think so.

    Candidates served requests in the hour before `since` below the alert's rate and are not among
    the revisions that cross it since; the one that served most of that hour wins. None when there
    are no errors to date (`since` is None).
    """
    if since is None:
        return None
    before: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    after: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (svc, rev), per_end in windows.items():
        if svc != service:
            continue
        for end, s in per_end.items():
            bucket = before if since - lookback < end <= since else after if end > since else None
            if bucket is not None:
                bucket[rev][0] += s.requests
                bucket[rev][1] += s.errors
    bad = {rev for rev, (n, b) in after.items() if n and (b / n) / budget >= burn_rate}
    candidates = [(n, rev) for rev, (n, b) in before.items()
                  if n and rev not in bad and (ready is None or ready.get(rev, False)) and (b / n) / budget < burn_rate]
    if not candidates:
        names = ", ".join(sorted(bad)) or "the serving revision"
        return LastGood(None, f"{names} served before the errors began too: no earlier revision to go back to "
                              "(not a release problem?)")
    _, good = max(candidates)
    culprit = max(bad, key=lambda r: after[r][0]) if bad else None
    # when did the culprit take traffic from it? the last audit marker before `since` that gave it some
    took = None
    if culprit:
        moves = [m for m in markers if m.at <= since + 60 and m.after.get(culprit, 0) > m.before.get(culprit, 0)]
        took = moves[0].at if moves else None
        if took is None:  # from the metrics: the first window the culprit served
            ends = sorted(end for (svc, rev), per_end in windows.items() if svc == service and rev == culprit
                          for end, s in per_end.items() if s.requests)
            took = ends[0] - PERIOD if ends else None
    until = took if took is not None else since
    rate_before = error_rate_of(windows, service, until - lookback, until, good)
    served_before = {rev: n for rev, (n, _b) in _counts(windows, service, until - lookback, until).items()}
    total = sum(served_before.values())
    share = 100.0 * served_before.get(good, 0) / total if total else None
    served = f"served {share:.0f} %" if share is not None and share >= 99.5 else (
        f"served most requests ({share:.0f} %)" if share is not None else "served")
    reason = f"{good} {served} until {hhmm(until)}"
    if culprit:
        reason += f" when {culprit} took traffic"
    if rate_before is not None:
        reason += f"; 5xx then {100 * rate_before:.1f} %"
    return LastGood(good, reason, until, culprit, rate_before, share)


def _counts(windows: RevisionWindows, service: str, lo: float, hi: float) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for (svc, rev), per_end in windows.items():
        if svc == service:
            n = sum(s.requests for end, s in per_end.items() if lo < end <= hi)
            b = sum(s.errors for end, s in per_end.items() if lo < end <= hi)
            out[rev] = (n, b)
    return out


def rank_rows(rows: Iterable[ServiceIncident]) -> list[ServiceIncident]:
    return sorted(rows, key=lambda r: r.severity, reverse=True)


def build_row(target: Target, windows: RevisionWindows, day: RevisionWindows, serving: Mapping[str, int],
              end: float, period: int = PERIOD) -> ServiceIncident:
    """One ranked-list row from the overview's windows (pure)."""
    targets = SloTargets.of(target.settings)
    mine = service_windows(windows, target.service)
    samples, edge = samples_of(mine, target.service, targets.latency_ms)
    status = evaluate(samples, end, targets, latency_edge_ms=edge)
    since = None
    if status.alert.rule is not None:
        budget = targets.availability_budget if status.alert.slo == "availability" else targets.latency_budget
        rule = status.alert.rule
        since = since_when(samples, budget, rule.burn_rate, status.alert.slo or "availability",
                           recent_seconds=rule.short_seconds)
    latency = merged_latency(mine, target.service, end - 300, end)
    day_end = math.floor(end / 3600) * 3600 - 3600
    return ServiceIncident(
        env=target.env, service=target.service, project=target.project, region=target.region,
        production=target.environment.production, targets=targets, slo=status,
        error_rate=status.burns["5m"].error_rate,
        baseline_error_rate=error_rate_of(day, target.service, day_end - BASELINE_SECONDS, day_end),
        p95_ms=latency.percentile(0.95) if latency is not None and latency.count else None,
        since=since, serving=dict(serving), latest_window_end=max((s.end for s in samples), default=None),
        windows=mine,
    )


def error_filter(target: Target, since: float | None = None, until: float | None = None) -> str:
    """Application errors of one service, without Cloud Run's per-request entries: severity ≥ ERROR,
    and stderr lines with no severity (plain, unstructured logging; signatures.groupable keeps the
    ones that read like errors and stitches stack traces split across entries)."""
    from console.gcp.logs import rfc3339

    text = (f'resource.type = "cloud_run_revision" AND resource.labels.service_name = "{target.service}" '
            f'AND resource.labels.location = "{target.region}" '
            f'AND (severity >= ERROR OR (severity = DEFAULT AND logName = "projects/{target.project}/logs/{STDERR_LOG_ID}")) '
            f'AND logName != "projects/{target.project}/logs/{REQUESTS_LOG_ID}"')
    if since is not None:
        text += f' AND timestamp >= "{rfc3339(since)}"'
    if until is not None:
        text += f' AND timestamp < "{rfc3339(until)}"'
    return text


# -------------------------------------------------------------------------------------------- I/O


class IncidentReader:
    def __init__(self, config: Config, clients: Clients, clock: Clock):
        from console.gcp.logs import Logs
        from console.gcp.monitoring import Metrics
        from console.gcp.run import CloudRun

        self.config = config
        self.clients = clients
        self.clock = clock
        self.run = CloudRun(clients)
        self.metrics = Metrics(clients)
        self.logs = Logs(clients)
        self._log_reads: dict[tuple[str, str], _LogRead] = {}  # (target key, span) → the last log read

    def window_end(self, now: float, period: int = PERIOD) -> float:
        """The end of the newest window the metric delay has surely filled."""
        return math.floor((now - self.config.analysis.metric_delay_seconds) / period) * period

    def overview(self, targets: Sequence[Target]) -> list[ServiceIncident]:
        """Every target ranked by severity (most severe first)."""
        now = self.clock.now()
        end = self.window_end(now)
        groups: dict[tuple[str, str], list[Target]] = defaultdict(list)
        for target in targets:
            groups[(target.project, target.region)].append(target)
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(groups)))) as pool:
            results = list(pool.map(lambda item: self._group(item[0], item[1], end), groups.items()))
        return rank_rows(row for rows in results for row in rows)

    def _group(self, location: tuple[str, str], targets: list[Target], end: float) -> list[ServiceIncident]:
        project, region = location
        try:
            services = {s.name: s for s in self.run.list_services(project, region)}
            windows = self.metrics.revision_windows(project, region, end - OVERVIEW_SECONDS, end, period=PERIOD,
                                                    usage=False)
            day_end = math.floor(end / 3600) * 3600 - 3600
            day = self.metrics.revision_windows(project, region, day_end - BASELINE_SECONDS, day_end, period=3600,
                                                latency=False, usage=False)
        except ApiError as error:
            return [self._unreadable(t, str(error)) for t in targets]
        events = self._container_events(project, region)
        rows = []
        for target in targets:
            state = services.get(target.service)
            if state is None:
                rows.append(self._unreadable(target, f"service {target.service} not found in {project}/{region}"))
                continue
            rows.append(build_row(target, windows, day, state.served_split(), end))
            rows[-1].containers = container_trouble(events, target.service, rows[-1].serving)
        return rows

    def _container_events(self, project: str, region: str) -> list[ContainerEvent]:
        """OOM kills and crashes of the last hour from Cloud Run's system log (one ListLogEntries per project
        and region); unreadable → none (the SLO rows still rank)."""
        from console.gcp.logs import system_log_entries

        now = self.clock.now()
        try:
            return container_events(system_log_entries(self.logs, project, region, now - OOM_WINDOW_SECONDS, now))
        except ApiError:
            return []

    @staticmethod
    def _unreadable(target: Target, error: str) -> ServiceIncident:
        from console.slo import SloTargets

        return ServiceIncident(target.env, target.service, target.project, target.region,
                               target.environment.production, SloTargets.of(target.settings), error=error)

    def detail(self, target: Target, span: str = "1h", row: ServiceIncident | None = None) -> ServiceDetail:
        """The selected service: timeline over `span` (1h, 6h or 24h), markers, error groups, last known good."""
        if span not in TIMELINE_SPANS:
            raise ValueError(f"span must be one of {', '.join(TIMELINE_SPANS)}, not {span!r}")
        calls = 0
        if row is None or row.key != target.key:
            row = next(r for r in self.overview([target]) if r.key == target.key)
            calls += 5
        now = self.clock.now()
        seconds = TIMELINE_SPANS[span]
        period = alignment_for(seconds)
        end = self.window_end(now, period)
        start = end - seconds
        revisions = self.run.list_revisions(target.project, target.region, target.service)
        calls += 1
        windows = self.metrics.revision_windows(target.project, target.region, start, end, service=target.service,
                                                period=period, usage=False)
        calls += 2
        errors_since = start if row.since is None else min(start, row.since - 600)
        logs, logs_error = self._read_logs(target, span, start, errors_since, now)
        calls += logs.calls
        audit, entries = logs.audit, logs.entries
        points = timeline_points(windows, target.service, start, end)
        markers = sorted(
            audit_markers(audit) + revision_markers(revisions, start, now) + serving_markers(points, start, end, period),
            key=lambda m: m.at,
        )
        markers = sorted(markers + container_markers(entries, start, now), key=lambda m: m.at)
        last_good = None
        if row.slo is not None and row.slo.alert.rule is not None:
            budget = (row.targets.availability_budget if row.slo.alert.slo == "availability"
                      else row.targets.latency_budget)
            last_good = last_known_good(row.windows, target.service, row.since, budget, row.slo.alert.rule.burn_rate,
                                        audit_markers(audit), {r.name: r.ready for r in revisions})
        return ServiceDetail(
            row=row,
            timeline=Timeline(span, period, start, end, points, markers),
            errors=group_errors(entries),
            errors_complete=len(entries) < ERROR_ENTRIES_LIMIT,
            last_good=last_good,
            revisions=revisions,
            read_at=now,
            api_calls=calls,
            logs_read_at=logs.read_at,
            logs_error=logs_error,
        )

    def _read_logs(self, target: Target, span: str, start: float, errors_since: float,
                   now: float) -> tuple[_LogRead, str | None]:
        """The audit markers and error entries, read again only LOG_REREAD_SECONDS after the last read.

        A read refused for quota keeps the last one (or none) and says why."""
        from console.gcp.logs import LogQuotaError, audit_log_name, rfc3339

        key = (target.key, span)
        last = self._log_reads.get(key)
        # a kept read always has read_at (the None one, after a refused first read, is never kept)
        if last is not None and last.read_at is not None and now - last.read_at < LOG_REREAD_SECONDS:
            return replace(last, calls=0), None
        try:
            audit = self.logs.list(
                target.project,
                f'logName = "{audit_log_name(target.project)}" AND resource.labels.service_name = "{target.service}" '
                f'AND labels.vinconsole_env = "{target.env}" AND timestamp >= "{rfc3339(start)}"',
                newest_first=False, limit=5000, page_size=1000,
            )
            entries = self.logs.list(target.project, error_filter(target, errors_since), newest_first=True,
                                     limit=ERROR_ENTRIES_LIMIT, page_size=1000)
        except LogQuotaError as error:
            kept = last if last is not None else _LogRead(None, [], [])
            return replace(kept, calls=0), str(error)
        read = _LogRead(now, audit, entries, calls=2)
        self._log_reads[key] = read
        return read, None

    def tail_errors(self, target: Target, on_entry: Callable[[LogEntry], None],
                    on_error: Callable[[Any], None] | None = None) -> TailSubscription:
        """The service's errors as they come, from its project's one shared tail session (its own
        thread, reconnects on its own); `.stop()` it. Entries are single lines for plain stderr:
        see signatures.TracebackStitcher."""
        from console.gcp.logs import tail_hub

        def mine(entry: LogEntry) -> bool:
            labels = entry.resource_labels
            return (labels.get("service_name") == target.service and labels.get("location") == target.region
                    and not entry.log_name.endswith(REQUESTS_LOG_ID)
                    and (entry.severity in ("ERROR", "CRITICAL", "ALERT", "EMERGENCY")
                         or entry.severity == "DEFAULT" and entry.log_name.endswith(STDERR_LOG_ID)))

        return tail_hub(self.clients, target.project).subscribe(error_filter(target), mine, on_entry, on_error)


def rollback_to_last_good(
    config: Config,
    target: Target,
    clients: Clients,
    clock: Clock,
    detail: ServiceDetail,
    *,
    on_event: Callable[[Event], None] | None = None,
) -> Outcome:
    """Send 100 % to the last known good revision, through the engine (lease, verify, audit entry
    with `errors_started` = since when). Raises UsageError when there is none."""
    from console.engine import Engine
    from console.errors import UsageError

    good = detail.last_good
    if good is None or good.revision is None:
        raise UsageError(f"{target.key}: no last known good revision to roll back to"
                         + (f" ({good.reason})" if good else ""))
    reason = f"incident: {detail.row.reason or 'errors'}; last known good: {good.reason}"
    engine = Engine(config, target, clients, clock, on_event=on_event)
    return engine.rollback_now(to=good.revision, reason=reason, errors_started=detail.row.since)
