"""Saturation and cold starts: CPU, memory, container starts and out-of-memory kills, per revision.

Pure: no I/O, no clock reads. It takes what console/gcp/monitoring.py (`saturation_windows`) and
console/gcp/logs.py (`system_log_entries`) read and turns it into

- the per-revision figures of `vinconsole status --json` (`summarize_saturation`): p95 of the CPU
  and memory utilization distributions (merged bucket-wise, fractions 0..1), container starts per
  minute and their p95, the cold-start share (container starts ÷ requests), OOM kills, min/max
  instances — None where there is no data, never a made-up 0;
- the judge's guardrails (`oom_guardrail`, `crash_guardrail`, `memory_warning`, `cold_start_report`,
  combined by `judge_saturation`): any out-of-memory kill (or crash) of the candidate while stable
  has none over the same windows rolls the step back with Cloud Run's log line in the reason;
  memory p95 over the configured share of the limit is a warning; the cold-start share is reported
  beside stable's.

Cloud Run writes container events to `run.googleapis.com/varlog/system`: "Memory limit of 512 MiB
exceeded with 527 MiB used. …" for an OOM kill, "Container terminated on signal 9." after it,
"Container called exit(1)." when the process exits by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from console.distribution import Histogram, merge_all
from console.judge import Decision, Verdict

COLD_START_TARGET = 0.10  # the plan: cold starts under 10 % of requests …
COLD_START_WARNING = 0.30  # … and a warning over 30 %
OOM_WINDOW_SECONDS = 3600.0  # `oom_kills` in status counts the last hour


class ContainerEventKind(StrEnum):
    OOM_KILL = "oom_kill"  # "Memory limit of … exceeded"
    TERMINATED = "terminated"  # "Container terminated on signal N."
    CRASH = "crash"  # "Container called exit(N)." with N ≠ 0


_OOM = re.compile(r"Memory limit of .* exceeded", re.IGNORECASE)
_TERMINATED = re.compile(r"Container terminated on signal (\d+)", re.IGNORECASE)
_EXIT = re.compile(r"Container called exit\((\d+)\)", re.IGNORECASE)


def classify(text: str) -> ContainerEventKind | None:
    """What a system log line says happened to a container (None: nothing the judge counts)."""
    if _OOM.search(text):
        return ContainerEventKind.OOM_KILL
    if _TERMINATED.search(text):
        return ContainerEventKind.TERMINATED
    match = _EXIT.search(text)
    if match and match.group(1) != "0":
        return ContainerEventKind.CRASH
    return None


class SystemLine(Protocol):
    """A log entry as console/gcp/logs.py reads it (only what is needed here). Read-only
    properties, so that a frozen dataclass (gcp.logs.LogEntry) matches."""

    @property
    def timestamp(self) -> float: ...

    @property
    def text(self) -> str: ...

    @property
    def resource_labels(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class ContainerEvent:
    at: float
    service: str
    revision: str
    kind: ContainerEventKind
    line: str  # Cloud Run's own words


def container_events(entries: Iterable[SystemLine]) -> list[ContainerEvent]:
    """The OOM kills, terminations and crashes among system log entries, oldest first."""
    out = []
    for entry in entries:
        kind = classify(entry.text)
        if kind is not None:
            labels = entry.resource_labels
            out.append(ContainerEvent(entry.timestamp, labels.get("service_name", ""), labels.get("revision_name", ""),
                                      kind, entry.text.strip()))
    return sorted(out, key=lambda e: e.at)


@dataclass
class RevisionEvents:
    """One revision's container events over a span: counts and the first line of each kind."""

    oom_kills: int = 0
    crashes: int = 0
    oom_line: str | None = None
    crash_line: str | None = None
    last_at: float | None = None

    def add(self, event: ContainerEvent) -> None:
        if event.kind is ContainerEventKind.OOM_KILL:
            self.oom_kills += 1
            self.oom_line = self.oom_line or event.line
        elif event.kind is ContainerEventKind.CRASH:
            self.crashes += 1
            self.crash_line = self.crash_line or event.line
        else:
            return
        self.last_at = event.at if self.last_at is None else max(self.last_at, event.at)


def events_by_revision(events: Iterable[ContainerEvent], service: str | None = None) -> dict[str, RevisionEvents]:
    """revision → its OOM kills and crashes (optionally of one service only)."""
    out: dict[str, RevisionEvents] = {}
    for event in events:
        if service is None or event.service == service:
            out.setdefault(event.revision, RevisionEvents()).add(event)
    return out


# --------------------------------------------------------------------------- status figures


class SaturationSample(Protocol):
    """One window of console/gcp/monitoring.py's `SaturationWindow` (only what is needed here)."""

    cpu: Histogram | None
    memory: Histogram | None
    startup: Histogram | None
    active_instances: int | None
    idle_instances: int | None


@dataclass(frozen=True)
class Saturation:
    """One revision's saturation over a span; None where there is no data."""

    cpu_p95: float | None = None
    memory_p95: float | None = None
    startups: int | None = None
    startups_per_minute: float | None = None
    startup_p95_ms: float | None = None
    cold_start_share: float | None = None
    oom_kills: int | None = None
    min_instances: int | None = None
    max_instances: int | None = None
    idle_instances: int | None = None

    def status_fields(self) -> dict[str, Any]:
        """The keys `vinconsole status --json` adds per revision."""
        return {
            "cpu_p95": self.cpu_p95,
            "memory_p95": self.memory_p95,
            "startups_per_minute": self.startups_per_minute,
            "startup_p95_ms": self.startup_p95_ms,
            "cold_start_share": self.cold_start_share,
            "oom_kills": self.oom_kills,
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
        }

    def to_json(self) -> dict[str, Any]:
        return {**self.status_fields(), "startups": self.startups, "idle_instances": self.idle_instances}


def _p95(histograms: Sequence[Histogram | None]) -> float | None:
    merged = merge_all([h for h in histograms if h is not None and h.count])
    return merged.percentile(0.95) if merged is not None else None


def summarize_saturation(
    windows: Sequence[SaturationSample],
    span_seconds: float,
    requests: int | None,
    *,
    oom_kills: int | None = None,
    min_instances: int | None = None,
    max_instances: int | None = None,
) -> Saturation:
    """The figures of one revision over `windows` (which cover `span_seconds`) and `requests` it served.

    Container starts are counted when the revision had any instance or request in the span (a start
    count of 0 is then a fact; Monitoring simply has no startup point for it); otherwise None.
    """
    startup = merge_all([w.startup for w in windows if w.startup is not None and w.startup.count])
    starts = startup.count if startup is not None else 0
    had_instances = any(w.active_instances or w.cpu is not None for w in windows)
    observed = had_instances or bool(requests) or starts > 0
    idle = [w.idle_instances for w in windows if w.idle_instances is not None]
    return Saturation(
        cpu_p95=_p95([w.cpu for w in windows]),
        memory_p95=_p95([w.memory for w in windows]),
        startups=starts if observed else None,
        startups_per_minute=starts / (span_seconds / 60.0) if observed and span_seconds > 0 else None,
        startup_p95_ms=startup.percentile(0.95) if startup is not None else None,
        cold_start_share=min(1.0, starts / requests) if requests else None,
        oom_kills=oom_kills,
        min_instances=min_instances,
        max_instances=max_instances,
        idle_instances=max(idle) if idle else None,
    )


def cold_start_flag(share: float | None, warning: float = COLD_START_WARNING) -> bool:
    """Whether the fleet flags a cold-start share (the plan: a warning over 30 % of requests)."""
    return share is not None and share > warning


def idle_min_instance_cost_per_hour(min_instances: int | None, vcpu: float, memory_gib: float,
                                    vcpu_second: float, gib_second: float) -> float | None:
    """What `min_instances` idle instances cost per hour under instance-based billing (None: none kept)."""
    if not min_instances:
        return None
    return min_instances * 3600.0 * (vcpu * vcpu_second + memory_gib * gib_second)


# ------------------------------------------------------------------------ judge guardrails


def oom_guardrail(candidate: str, candidate_kills: int, stable_kills: int, log_line: str | None) -> str | None:
    """Roll back when the candidate was OOM-killed while stable was not, over the same windows."""
    if candidate_kills <= 0 or stable_kills > 0:
        return None
    times = "once" if candidate_kills == 1 else f"{candidate_kills} times"
    line = f': "{_one_line(log_line)}"' if log_line else ""
    return (f"out-of-memory kills: {candidate} was killed {times} for exceeding its memory limit, stable 0 times "
            f"over the same windows — Cloud Run logged{line}")


def crash_guardrail(candidate: str, candidate_crashes: int, stable_crashes: int, log_line: str | None) -> str | None:
    """Roll back when the candidate's containers crashed (exit ≠ 0) while stable's did not."""
    if candidate_crashes <= 0 or stable_crashes > 0:
        return None
    times = "once" if candidate_crashes == 1 else f"{candidate_crashes} times"
    line = f': "{_one_line(log_line)}"' if log_line else ""
    return (f"container crashes: {candidate}'s container exited {times}, stable's 0 times over the same windows — "
            f"Cloud Run logged{line}")


def memory_warning(candidate_p95: float | None, stable_p95: float | None, limit: float) -> str | None:
    """A warning (not a rollback) when the candidate's memory p95 is over `limit` (a fraction of the limit)."""
    if candidate_p95 is None or candidate_p95 <= limit:
        return None
    beside = f" vs stable {_pct(stable_p95, 0)}" if stable_p95 is not None else ""
    return (f"warning: memory p95 {_pct(candidate_p95, 0)} of the container's limit{beside} — over the "
            f"{_pct(limit, 0)} warning (analysis.memory_warning_percent); an OOM kill is near")


def cold_start_report(candidate: Saturation, stable: Saturation, warning: float = COLD_START_WARNING) -> str | None:
    """The candidate's cold-start share beside stable's, as the verdict reports it (None: no data)."""
    if candidate.cold_start_share is None:
        return None

    def one(s: Saturation) -> str:
        if s.cold_start_share is None:
            return "no data"
        count = f"{s.startups:,} start{'' if s.startups == 1 else 's'}"
        starts = f" ({count}" + (f", p95 {s.startup_p95_ms:,.0f} ms)" if s.startup_p95_ms else ")")
        return f"{_pct(s.cold_start_share, 1)} of requests{starts}"

    flag = ""
    if cold_start_flag(candidate.cold_start_share, warning):
        flag = f" — over the {_pct(warning, 0)} warning (analysis.cold_start_warning_percent)"
    elif candidate.cold_start_share > COLD_START_TARGET:
        flag = f" — over the plan's {_pct(COLD_START_TARGET, 0)} target"
    return f"cold starts: {one(candidate)} vs stable {one(stable)}{flag}"


@dataclass(frozen=True)
class SaturationJudgement:
    """What the saturation checks add to a step's verdict."""

    fail_reasons: tuple[str, ...] = ()  # OOM kills / crashes: the step fails
    notes: tuple[str, ...] = ()  # warnings and reported figures
    metrics: dict[str, Any] = field(default_factory=dict)


def judge_saturation(
    candidate: str,
    candidate_events: RevisionEvents,
    stable_events: RevisionEvents,
    candidate_saturation: Saturation | None,
    stable_saturation: Saturation | None,
    memory_limit: float,
    cold_start_warning: float = COLD_START_WARNING,
) -> SaturationJudgement:
    """The guardrails over one step's windows (events from the system log, saturation from Monitoring)."""
    fails = [reason for reason in (
        oom_guardrail(candidate, candidate_events.oom_kills, stable_events.oom_kills, candidate_events.oom_line),
        crash_guardrail(candidate, candidate_events.crashes, stable_events.crashes, candidate_events.crash_line),
    ) if reason]
    notes: list[str] = []
    metrics: dict[str, Any] = {
        "oom_kills": {"candidate": candidate_events.oom_kills, "stable": stable_events.oom_kills},
        "crashes": {"candidate": candidate_events.crashes, "stable": stable_events.crashes},
        "memory_warning": memory_limit,
    }
    if candidate_saturation is not None and stable_saturation is not None:
        warning = memory_warning(candidate_saturation.memory_p95, stable_saturation.memory_p95, memory_limit)
        if warning:
            notes.append(warning)
        report = cold_start_report(candidate_saturation, stable_saturation, cold_start_warning)
        if report:
            notes.append(report)
        metrics["candidate"] = candidate_saturation.to_json()
        metrics["stable"] = stable_saturation.to_json()
    return SaturationJudgement(tuple(fails), tuple(notes), metrics)


def with_saturation(verdict: Verdict, judgement: SaturationJudgement) -> Verdict:
    """The verdict with the saturation checks applied: a guardrail makes it `fail` (its reasons first),
    warnings and the cold-start report are appended, the figures go under metrics["saturation"]."""
    decision = Decision.FAIL if judgement.fail_reasons else verdict.decision
    # a step still baking explains why it waits ("baked 54 s of the 300 s minimum"): moot once it fails
    kept = () if judgement.fail_reasons and verdict.decision == Decision.CONTINUE else tuple(verdict.reasons)
    reasons = judgement.fail_reasons + kept + judgement.notes
    metrics = {**verdict.metrics, "saturation": judgement.metrics}
    return replace(verdict, decision=decision, reasons=reasons, metrics=metrics)


def _pct(fraction: float, decimals: int) -> str:
    return f"{fraction * 100:.{decimals}f} %"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
