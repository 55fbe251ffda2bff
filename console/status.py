"""A snapshot of the fleet: services, revisions, traffic, RED metrics and cost.

The reading is batched per project and region — one ListServices and one ListTimeSeries per
metric, plus one ListRevisions per service — so a refresh costs the same number of calls
however many revisions there are.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from console.clock import Clock
from console.config import Config, Pricing, Target
from console.cost import Usage, cost_per_hour, cost_per_thousand_requests
from console.distribution import merge_all
from console.errors import ApiError
from console.gcp.clients import Clients
from console.gcp.logs import Logs, system_log_entries
from console.gcp.monitoring import Metrics, SaturationWindows, WindowStats
from console.gcp.run import CloudRun
from console.model import LEASE_ANNOTATION, ROLLOUT_ANNOTATION, Revision, ServiceState
from console.saturation import (
    OOM_WINDOW_SECONDS,
    ContainerEvent,
    RevisionEvents,
    container_events,
    events_by_revision,
    idle_min_instance_cost_per_hour,
    summarize_saturation,
)
from console.units import iso  # noqa: F401 - callers import it from here too

LOOKBACK_WINDOWS = 5


@dataclass
class RevisionStatus:
    name: str
    traffic_percent: int
    tag: str | None
    ready: bool
    created: str
    image: str
    request_rate: float | None
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    instances: int | None
    cost_per_hour: float | None
    cost_per_1k_requests: float | None
    age_seconds: float
    requests: int | None = None
    errors: int | None = None
    # saturation (console/saturation.py): None when there is no data, never 0
    cpu_p95: float | None = None  # fraction 0..1 of the CPU limit
    memory_p95: float | None = None  # fraction 0..1 of the memory limit
    startups_per_minute: float | None = None
    startup_p95_ms: float | None = None
    cold_start_share: float | None = None  # container starts ÷ requests, 0..1
    oom_kills: int | None = None  # in the last hour
    min_instances: int | None = None
    max_instances: int | None = None
    min_instances_idle_cost_per_hour: float | None = None  # USD, instance-based prices; None: no min instances
    tags: list[str] = field(default_factory=list)  # every tag on the revision; `tag` is the first of them


@dataclass
class ServiceStatus:
    env: str
    service: str
    project: str
    region: str
    production: bool
    rollout: dict | None
    revisions: list[RevisionStatus]
    uri: str | None = None
    error: str | None = None
    lease: dict | None = None  # {"holder", "expires"}: who drives the service now (None: nobody)

    def revision(self, name: str) -> RevisionStatus | None:
        return next((r for r in self.revisions if r.name == name), None)


@dataclass
class FleetStatus:
    read_at: float
    window_start: float
    window_end: float
    services: list[ServiceStatus] = field(default_factory=list)
    api_calls: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "read_at": iso(self.read_at),
            "window": {"start": iso(self.window_start), "end": iso(self.window_end)},
            "services": [asdict(service) for service in self.services],
        }


def tags_by_revision(tags: dict[str, str], stable_tag: str, candidate_tag: str) -> dict[str, list[str]]:
    """revision → its tags, the stable tag first, then the candidate tag, then the rest by name: a
    promoted revision that still carries the candidate tag reads as stable."""
    order = {stable_tag: 0, candidate_tag: 1}
    found: dict[str, list[str]] = {}
    for tag, revision in sorted(tags.items(), key=lambda item: (order.get(item[0], 2), item[0])):
        found.setdefault(revision, []).append(tag)
    return found


def metric_window(now: float, period: int, delay: float, windows: int = LOOKBACK_WINDOWS) -> tuple[float, float]:
    """The last `windows` alignment windows that the metric delay has surely filled."""
    end = (now - delay) // period * period
    return end - windows * period, end


def summarize_revision(
    revision: Revision,
    windows: Sequence[WindowStats],
    span_seconds: float,
    pricing: Pricing,
    billing: str = "request",
) -> dict[str, Any]:
    """Rates, percentiles and cost of one revision over a span (None where there is no data)."""
    if not windows:
        return {
            "request_rate": None, "error_rate": None, "p50_ms": None, "p95_ms": None, "p99_ms": None,
            "instances": None, "cost_per_hour": None, "cost_per_1k_requests": None, "requests": None, "errors": None,
        }
    requests = sum(w.requests for w in windows)
    errors = sum(w.errors for w in windows)
    latency = merge_all([w.latency for w in windows if w.latency is not None])
    newest = max(windows, key=lambda w: w.end)
    billable = [w.billable_instance_seconds for w in windows if w.billable_instance_seconds is not None]
    usage = Usage(
        seconds=span_seconds,
        billable_instance_seconds=sum(billable),
        requests=requests,
        vcpu=revision.cpu,
        memory_gib=revision.memory_gib,
        billing=billing,
    )
    has_usage = bool(billable) or requests > 0
    return {
        "request_rate": requests / span_seconds,
        "error_rate": errors / requests if requests else None,
        "p50_ms": latency.percentile(0.50) if latency and latency.count else None,
        "p95_ms": latency.percentile(0.95) if latency and latency.count else None,
        "p99_ms": latency.percentile(0.99) if latency and latency.count else None,
        "instances": newest.instances,
        "cost_per_hour": cost_per_hour(usage, pricing) if has_usage else None,
        "cost_per_1k_requests": cost_per_thousand_requests(usage, pricing),
        "requests": requests,
        "errors": errors,
    }


def fill_saturation(
    status: ServiceStatus,
    revisions: Sequence[Revision],
    saturation: SaturationWindows,
    events: list[ContainerEvent] | None,
    span: float,
    pricing: Pricing | None = None,
) -> None:
    """Add each revision's saturation figures to its row (in place); None where there is no data.
    With `pricing`, also what its minimum instances cost when idle (instance-based billing)."""
    by_revision = events_by_revision(events, status.service) if events is not None else None
    for revision in revisions:
        row = status.revision(revision.name)
        if row is None:
            continue
        figures = summarize_saturation(
            list(saturation.get((status.service, revision.name), {}).values()),
            span,
            row.requests,
            oom_kills=(by_revision.get(revision.name, RevisionEvents()).oom_kills if by_revision is not None else None),
            min_instances=revision.min_instances or 0,  # Cloud Run's default: scale to zero
            max_instances=revision.max_instances,
        )
        for key, value in figures.status_fields().items():
            setattr(row, key, value)
        if pricing is not None:
            row.min_instances_idle_cost_per_hour = idle_min_instance_cost_per_hour(
                revision.min_instances, revision.cpu, revision.memory_gib, pricing.instance_vcpu_second,
                pricing.instance_gib_second)


def rollout_of(state: ServiceState) -> dict | None:
    raw = state.annotations.get(ROLLOUT_ANNOTATION)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"error": f"unreadable {ROLLOUT_ANNOTATION} annotation"}
    return value if isinstance(value, dict) else None


def lease_of(state: ServiceState, now: float) -> dict | None:
    """The unexpired lease on the service, as {"holder", "expires"} (None when nobody holds it)."""
    raw = state.annotations.get(LEASE_ANNOTATION)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict) or float(value.get("expires", 0)) <= now:
        return None
    return {"holder": value.get("holder"), "expires": value.get("expires")}


class StatusReader:
    def __init__(self, config: Config, clients: Clients, clock: Clock):
        self.config = config
        self.clients = clients
        self.clock = clock
        self.run = CloudRun(clients)
        self.metrics = Metrics(clients)

    def read(self, targets: Sequence[Target]) -> FleetStatus:
        now = self.clock.now()
        period = self.config.analysis.window_seconds
        start, end = metric_window(now, period, self.config.analysis.metric_delay_seconds)
        fleet = FleetStatus(read_at=now, window_start=start, window_end=end)
        groups: dict[tuple[str, str], list[Target]] = defaultdict(list)
        for target in targets:
            groups[(target.project, target.region)].append(target)
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(groups)))) as pool:
            results = list(pool.map(lambda item: self._read_group(item[0], item[1], start, end, now), groups.items()))
        order = {target.key: index for index, target in enumerate(targets)}
        for services, calls in results:
            fleet.services.extend(services)
            fleet.api_calls += calls
        fleet.services.sort(key=lambda s: order[f"{s.env}/{s.service}"])
        return fleet

    def _read_group(
        self, location: tuple[str, str], targets: list[Target], start: float, end: float, now: float
    ) -> tuple[list[ServiceStatus], int]:
        project, region = location
        calls = 0
        try:
            states = {state.name: state for state in self.run.list_services(project, region)}
            calls += 1
            windows = self.metrics.revision_windows(project, region, start, end, period=self.config.analysis.window_seconds)
            calls += 4
        except ApiError as error:
            return [self._unreadable(target, str(error)) for target in targets], calls
        saturation, events, saturation_calls = self._read_saturation(project, region, start, end, now)
        calls += saturation_calls
        out = []
        for target in targets:
            state = states.get(target.service)
            if state is None:
                out.append(self._unreadable(target, f"service {target.service} not found in {project}/{region}"))
                continue
            try:
                revisions = self.run.list_revisions(project, region, target.service)
                calls += 1
            except ApiError as error:
                out.append(self._unreadable(target, str(error)))
                continue
            out.append(self._service_status(target, state, revisions, windows, end - start, now))
            fill_saturation(out[-1], revisions, saturation, events, end - start, self.config.pricing)
        return out, calls

    def _read_saturation(
        self, project: str, region: str, start: float, end: float, now: float
    ) -> tuple[SaturationWindows, list[ContainerEvent] | None, int]:
        """CPU, memory, container starts (4 ListTimeSeries) and the last hour's OOM kills and crashes
        (1 ListLogEntries) of every revision in a project and region. A failed read leaves its figures
        null (the RED figures above still show)."""
        try:
            saturation = self.metrics.saturation_windows(project, region, start, end,
                                                         period=self.config.analysis.window_seconds)
        except ApiError:
            saturation = {}
        try:
            entries = system_log_entries(Logs(self.clients), project, region, now - OOM_WINDOW_SECONDS, now)
            events: list[ContainerEvent] | None = container_events(entries)
        except ApiError:
            events = None
        return saturation, events, 5

    def _unreadable(self, target: Target, error: str) -> ServiceStatus:
        return ServiceStatus(
            env=target.env, service=target.service, project=target.project, region=target.region,
            production=target.environment.production, rollout=None, revisions=[], error=error,
        )

    def _service_status(
        self,
        target: Target,
        state: ServiceState,
        revisions: list[Revision],
        windows: dict[tuple[str, str], dict[float, WindowStats]],
        span: float,
        now: float,
    ) -> ServiceStatus:
        split = state.served_split()
        tags = tags_by_revision(state.tags(), self.config.rollout.stable_tag, self.config.rollout.candidate_tag)
        rows = []
        for revision in revisions:
            summary = summarize_revision(
                revision,
                list(windows.get((target.service, revision.name), {}).values()),
                span,
                self.config.pricing,
                target.settings.billing,
            )
            rows.append(
                RevisionStatus(
                    name=revision.name,
                    traffic_percent=split.get(revision.name, 0),
                    tag=next(iter(tags.get(revision.name, [])), None),
                    tags=tags.get(revision.name, []),
                    ready=revision.ready,
                    created=iso(revision.created),
                    image=revision.image,
                    age_seconds=max(0.0, now - revision.created),
                    **summary,
                )
            )
        return ServiceStatus(
            env=target.env,
            service=target.service,
            project=target.project,
            region=target.region,
            production=target.environment.production,
            rollout=rollout_of(state),
            revisions=rows,
            uri=state.uri,
            lease=lease_of(state, now),
        )
