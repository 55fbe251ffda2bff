"""Per-revision metrics from Cloud Monitoring, in as few ListTimeSeries calls as possible.

One call per metric returns every revision (and, without a service filter, every service) of
a project and region at once, grouped by revision: the number of calls never grows with the
number of revisions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from console.distribution import Histogram, exponential_bounds, linear_bounds
from console.errors import UsageError
from console.gcp.clients import Clients, guarded

REQUEST_COUNT = "run.googleapis.com/request_count"
REQUEST_LATENCIES = "run.googleapis.com/request_latencies"
BILLABLE_INSTANCE_TIME = "run.googleapis.com/container/billable_instance_time"
INSTANCE_COUNT = "run.googleapis.com/container/instance_count"

MIN_ALIGNMENT_SECONDS = 60


@dataclass
class WindowStats:
    """One revision over one aligned window (end exclusive of nothing: Monitoring's (start, end])."""

    start: float
    end: float
    requests_by_class: dict[str, int] = field(default_factory=dict)
    latency: Histogram | None = None
    billable_instance_seconds: float | None = None
    instances: int | None = None

    @property
    def requests(self) -> int:
        return sum(self.requests_by_class.values())

    @property
    def errors(self) -> int:
        return self.requests_by_class.get("5xx", 0)


# (service, revision) → window end → stats
RevisionWindows = dict[tuple[str, str], dict[float, WindowStats]]


def bounds_of(options: Any) -> tuple[float, ...]:
    """Bucket bounds of any of Monitoring's three layouts (a raw `google.api.Distribution.BucketOptions`)."""
    kind = options.WhichOneof("options")
    if kind == "explicit_buckets":
        return tuple(options.explicit_buckets.bounds)
    if kind == "exponential_buckets":
        e = options.exponential_buckets
        return exponential_bounds(e.num_finite_buckets, e.growth_factor, e.scale)
    if kind == "linear_buckets":
        lin = options.linear_buckets
        return linear_bounds(lin.num_finite_buckets, lin.width, lin.offset)
    raise ValueError("distribution has no bucket options")


def histogram_of(distribution: Any, layouts: dict[bytes, tuple[float, ...]] | None = None) -> Histogram:
    options = distribution.bucket_options
    if layouts is None:
        bounds = bounds_of(options)
    else:  # the same layout recurs on every point; compute its bounds once
        key = options.SerializeToString()
        bounds = layouts.get(key) or layouts.setdefault(key, bounds_of(options))
    return Histogram(bounds, tuple(int(c) for c in distribution.bucket_counts))


class Metrics:
    def __init__(self, clients: Clients):
        self.clients = clients

    def _list(self, project: str, metric: str, where: str, start: float, end: float, aggregation: dict) -> Iterable[Any]:
        from google.cloud import monitoring_v3

        if aggregation["alignment_period"] < MIN_ALIGNMENT_SECONDS:
            raise UsageError(f"alignment period {aggregation['alignment_period']} s is below Monitoring's 60 s minimum")
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{project}",
            filter=f'metric.type = "{metric}" AND resource.type = "cloud_run_revision"{where}',
            interval=monitoring_v3.TimeInterval(
                start_time={"seconds": int(start)}, end_time={"seconds": int(end)}
            ),
            aggregation=monitoring_v3.Aggregation(
                alignment_period={"seconds": aggregation["alignment_period"]},
                per_series_aligner=aggregation["aligner"],
                cross_series_reducer=aggregation["reducer"],
                group_by_fields=aggregation["group_by"],
            ),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )
        short = metric.rsplit("/", 1)[-1]
        return guarded(
            f"ListTimeSeries({short}, {project})",
            lambda: list(self.clients.metrics.list_time_series(request=request, retry=self.clients.retry(), timeout=self.clients.read_timeout)),
        )

    def revision_windows(
        self,
        project: str,
        region: str,
        start: float,
        end: float,
        *,
        service: str | None = None,
        period: int = 60,
        latency: bool = True,
        usage: bool = True,
    ) -> RevisionWindows:
        """Request counts by class (and latency, billable time, instances) per revision per window.

        Windows end at `end` and step back by `period`; a window with no data is simply absent.
        """
        from google.cloud import monitoring_v3

        Aligner = monitoring_v3.Aggregation.Aligner
        Reducer = monitoring_v3.Aggregation.Reducer
        where = _revision_filter(region, service)
        out: RevisionWindows = defaultdict(dict)

        def stats(series: Any, point: Any) -> WindowStats:
            return _window_of(out, WindowStats, series, point, period, service)

        delta_sum = {"alignment_period": period, "aligner": Aligner.ALIGN_DELTA, "reducer": Reducer.REDUCE_SUM}
        for series in self._list(
            project, REQUEST_COUNT, where, start, end,
            {**delta_sum, "group_by": BY_REVISION + ["metric.label.response_code_class"]},
        ):
            code_class = series.metric.labels.get("response_code_class", "unknown")
            for point in series.points:
                window = stats(series, point)
                window.requests_by_class[code_class] = window.requests_by_class.get(code_class, 0) + int(
                    point.value.int64_value
                )
        if latency:
            layouts: dict[bytes, tuple[float, ...]] = {}
            for series in self._list(project, REQUEST_LATENCIES, where, start, end, {**delta_sum, "group_by": BY_REVISION}):
                for point in series.points:
                    histogram = histogram_of(point.value.distribution_value, layouts)
                    window = stats(series, point)
                    window.latency = histogram if window.latency is None else window.latency.merged(histogram)
        if usage:
            for series in self._list(
                project, BILLABLE_INSTANCE_TIME, where, start, end, {**delta_sum, "group_by": BY_REVISION}
            ):
                for point in series.points:
                    window = stats(series, point)
                    window.billable_instance_seconds = (window.billable_instance_seconds or 0.0) + point.value.double_value
            for series in self._list(
                project, INSTANCE_COUNT, where, start, end,
                {"alignment_period": period, "aligner": Aligner.ALIGN_MAX, "reducer": Reducer.REDUCE_SUM, "group_by": BY_REVISION},
            ):
                for point in series.points:
                    window = stats(series, point)
                    window.instances = (window.instances or 0) + int(point.value.int64_value or point.value.double_value)
        return dict(out)

    # ------------------------------------------------------------------ saturation (issue 14)

    def container_starts(
        self, project: str, region: str, start: float, end: float, *, service: str | None = None, period: int = 60,
    ) -> dict[tuple[str, str], dict[float, int]]:
        """Container starts per revision per window: the count of `container/startup_latencies` (one
        ListTimeSeries, ALIGN_DELTA + REDUCE_SUM per revision). (service, revision) → window end → starts."""
        from google.cloud import monitoring_v3

        Aligner = monitoring_v3.Aggregation.Aligner
        Reducer = monitoring_v3.Aggregation.Reducer
        out: dict[tuple[str, str], dict[float, int]] = defaultdict(dict)
        for series in self._list(project, STARTUP_LATENCIES, _revision_filter(region, service), start, end,
                                 {"alignment_period": period, "aligner": Aligner.ALIGN_DELTA,
                                  "reducer": Reducer.REDUCE_SUM, "group_by": BY_REVISION}):
            labels = series.resource.labels
            key = (labels.get("service_name", service or ""), labels.get("revision_name", ""))
            for point in series.points:
                out[key][point.interval.end_time.timestamp()] = int(point.value.distribution_value.count)
        return dict(out)

    def saturation_windows(
        self,
        project: str,
        region: str,
        start: float,
        end: float,
        *,
        service: str | None = None,
        period: int = 60,
    ) -> SaturationWindows:
        """CPU and memory utilization, container starts and instances by state, per revision per window.

        Four ListTimeSeries calls whatever the number of revisions: `container/cpu/utilizations`,
        `container/memory/utilizations` and `container/startup_latencies` (distributions, summed
        bucket-wise per revision: ALIGN_DELTA + REDUCE_SUM) and `container/instance_count` by state
        (ALIGN_MAX + REDUCE_SUM per revision and state). A window with no data is absent.
        """
        from google.cloud import monitoring_v3

        Aligner = monitoring_v3.Aggregation.Aligner
        Reducer = monitoring_v3.Aggregation.Reducer
        where = _revision_filter(region, service)
        out: SaturationWindows = defaultdict(dict)

        def window_of(series: Any, point: Any) -> SaturationWindow:
            return _window_of(out, SaturationWindow, series, point, period, service)

        delta_sum = {"alignment_period": period, "aligner": Aligner.ALIGN_DELTA, "reducer": Reducer.REDUCE_SUM,
                     "group_by": BY_REVISION}
        layouts: dict[bytes, tuple[float, ...]] = {}
        for metric, attribute in ((CPU_UTILIZATIONS, "cpu"), (MEMORY_UTILIZATIONS, "memory"), (STARTUP_LATENCIES, "startup")):
            for series in self._list(project, metric, where, start, end, delta_sum):
                for point in series.points:
                    histogram = histogram_of(point.value.distribution_value, layouts)
                    window = window_of(series, point)
                    current = getattr(window, attribute)
                    setattr(window, attribute, histogram if current is None else current.merged(histogram))
        for series in self._list(
            project, INSTANCE_COUNT, where, start, end,
            {"alignment_period": period, "aligner": Aligner.ALIGN_MAX, "reducer": Reducer.REDUCE_SUM,
             "group_by": BY_REVISION + ["metric.label.state"]},
        ):
            state = series.metric.labels.get("state", "active")
            for point in series.points:
                window = window_of(series, point)
                count = int(point.value.int64_value or point.value.double_value)
                if state == "idle":
                    window.idle_instances = (window.idle_instances or 0) + count
                else:
                    window.active_instances = (window.active_instances or 0) + count
        return dict(out)


CPU_UTILIZATIONS = "run.googleapis.com/container/cpu/utilizations"
MEMORY_UTILIZATIONS = "run.googleapis.com/container/memory/utilizations"
STARTUP_LATENCIES = "run.googleapis.com/container/startup_latencies"


@dataclass
class SaturationWindow:
    """One revision's saturation over one aligned window: utilization distributions (fractions 0..1),
    container starts (the startup latency distribution: its count is the number of starts, in ms)."""

    start: float
    end: float
    cpu: Histogram | None = None
    memory: Histogram | None = None
    startup: Histogram | None = None
    active_instances: int | None = None
    idle_instances: int | None = None


# (service, revision) → window end → saturation
SaturationWindows = dict[tuple[str, str], dict[float, SaturationWindow]]


BY_REVISION = ["resource.label.service_name", "resource.label.revision_name"]  # group_by: one series per revision


def _revision_filter(region: str, service: str | None) -> str:
    """The filter clause after the metric type: the region, and the service when one is asked for."""
    where = f' AND resource.labels.location = "{region}"'
    if service:
        where += f' AND resource.labels.service_name = "{service}"'
    return where


def _window_of(out: dict[tuple[str, str], dict[float, Any]], make: Any, series: Any, point: Any, period: int,
               service: str | None) -> Any:
    """The (service, revision) window a point belongs to, made on first sight: Monitoring stamps an
    aligned point with the end of its window."""
    labels = series.resource.labels
    key = (labels.get("service_name", service or ""), labels.get("revision_name", ""))
    window_end = point.interval.end_time.timestamp()
    windows = out[key]
    if window_end not in windows:
        windows[window_end] = make(start=window_end - period, end=window_end)
    return windows[window_end]
