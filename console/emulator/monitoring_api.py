"""Cloud Monitoring v3 `MetricService/ListTimeSeries` over the synthetic traffic.

Faithful where the console relies on it: Cloud Run's metric types, kinds, value types and
labels; alignment periods of at least 60 s; windows that end at `interval.end_time` and step
back by the period, points stamped with their window's end and newest first; the metric delay
(the newest ticks are not visible yet); cross-series reduction with `group_by_fields`;
distributions merged bucket-wise; pagination over series; INVALID_ARGUMENT naming the problem.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc

from console.emulator import filters
from console.emulator.traffic import (
    LATENCY_BUCKETS,
    LATENCY_GROWTH,
    LATENCY_SCALE,
    UTIL_BUCKETS,
    UTIL_OFFSET,
    UTIL_WIDTH,
    Dist,
    RevisionTick,
    Traffic,
)

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.fleet import Fleet, SimService

SERVICE = "google.monitoring.v3.MetricService"
RESOURCE_TYPE = "cloud_run_revision"
MAX_PAGE_SIZE = 100_000
MIN_ALIGNMENT_SECONDS = 60

DELTA, GAUGE = "DELTA", "GAUGE"
INT64, DOUBLE, DISTRIBUTION = "INT64", "DOUBLE", "DISTRIBUTION"


@dataclass(frozen=True)
class MetricSpec:
    kind: str
    value_type: str
    unit: str
    labels: tuple[str, ...]  # metric label names
    raw: Callable[[RevisionTick], list[tuple[tuple[str, ...], Any]]]  # (label values, value) per tick


def _request_count(rt: RevisionTick) -> list[tuple[tuple[str, ...], Any]]:
    return [((str(code), f"{code // 100}xx"), n) for code, n in sorted(rt.codes.items()) if n]


def _request_latencies(rt: RevisionTick) -> list[tuple[tuple[str, ...], Any]]:
    return [((cls,), d) for cls, d in sorted(rt.latency.items()) if d.count]


def _billable(rt: RevisionTick) -> list[tuple[tuple[str, ...], Any]]:
    return [((), rt.billable_seconds)] if rt.active_instances else []


def _instances(rt: RevisionTick) -> list[tuple[tuple[str, ...], Any]]:
    if not rt.has_instances:
        return []
    return [(("active",), rt.active_instances), (("idle",), rt.idle_instances)]


def _dist_of(attr: str) -> Callable[[RevisionTick], list[tuple[tuple[str, ...], Any]]]:
    def raw(rt: RevisionTick) -> list[tuple[tuple[str, ...], Any]]:
        d = getattr(rt, attr)
        return [((), d)] if d is not None and d.count else []

    return raw


METRICS: dict[str, MetricSpec] = {
    "run.googleapis.com/request_count": MetricSpec(
        DELTA, INT64, "1", ("response_code", "response_code_class"), _request_count),
    "run.googleapis.com/request_latencies": MetricSpec(
        DELTA, DISTRIBUTION, "ms", ("response_code_class",), _request_latencies),
    "run.googleapis.com/container/billable_instance_time": MetricSpec(DELTA, DOUBLE, "s", (), _billable),
    "run.googleapis.com/container/instance_count": MetricSpec(GAUGE, INT64, "1", ("state",), _instances),
    "run.googleapis.com/container/startup_latencies": MetricSpec(DELTA, DISTRIBUTION, "ms", (), _dist_of("startup")),
    "run.googleapis.com/container/cpu/utilizations": MetricSpec(DELTA, DISTRIBUTION, "10^2.%", (), _dist_of("cpu")),
    "run.googleapis.com/container/memory/utilizations": MetricSpec(
        DELTA, DISTRIBUTION, "10^2.%", (), _dist_of("memory")),
}

RESOURCE_LABELS = ("project_id", "location", "service_name", "revision_name", "configuration_name")

ALIGNERS = {"ALIGN_NONE", "ALIGN_DELTA", "ALIGN_RATE", "ALIGN_SUM", "ALIGN_MEAN", "ALIGN_MAX"}
REDUCERS = {"REDUCE_NONE", "REDUCE_SUM", "REDUCE_MEAN", "REDUCE_MAX"}


class Invalid(ValueError):
    """Becomes INVALID_ARGUMENT with this message."""


# ---------------------------------------------------------------------------------------------
# The query, independent of gRPC (so it can be benchmarked and tested directly)


@dataclass
class Series:
    resource_labels: dict[str, str]
    metric_labels: dict[str, str]
    kind: str
    value_type: str
    points: list[tuple[float, float, Any]]  # (start, end, value), newest first

    def sort_key(self) -> tuple:
        return (sorted(self.resource_labels.items()), sorted(self.metric_labels.items()))


@dataclass
class Query:
    project: str
    filter: str
    start: float | None
    end: float
    period: float = 0.0
    aligner: str = "ALIGN_NONE"
    reducer: str = "REDUCE_NONE"
    group_by: tuple[str, ...] = ()


def _group_field(name: str) -> tuple[str, str]:
    """'resource.label.x' / 'resource.labels.x' / 'metric.label(s).x' / 'resource.type' → (where, key)."""
    parts = name.strip().split(".")
    if len(parts) == 2 and parts[0] in ("resource", "metric") and parts[1] == "type":
        return parts[0], "type"
    if len(parts) == 3 and parts[0] in ("resource", "metric") and parts[1] in ("label", "labels"):
        return parts[0], parts[2]
    raise Invalid(f"group_by_fields: {name!r} is not a label (use resource.label.NAME or metric.label.NAME)")


def run_query(fleet: Fleet, traffic: Traffic, q: Query) -> tuple[MetricSpec, list[Series]]:
    try:
        node = filters.parse_monitoring(q.filter)
        metric_type = filters.metric_type_of(node)
    except filters.FilterError as exc:
        raise Invalid(f"Invalid filter: {exc}") from None
    spec = METRICS.get(metric_type)
    if spec is None:
        known = ", ".join(sorted(METRICS))
        raise Invalid(f"Invalid filter: unknown metric type {metric_type!r} (the emulator knows: {known})")
    if q.start is not None and q.start > q.end:
        raise Invalid("The start time must be before or equal to the end time: interval.start_time > interval.end_time")
    aligner, reducer = q.aligner, q.reducer
    if aligner not in ALIGNERS:
        raise Invalid(f"The aligner {aligner} is not supported by the emulator (use one of {', '.join(sorted(ALIGNERS))})")
    if reducer not in REDUCERS:
        raise Invalid(f"The reducer {reducer} is not supported by the emulator (use one of {', '.join(sorted(REDUCERS))})")
    if q.period:
        if q.period < MIN_ALIGNMENT_SECONDS:
            raise Invalid(
                f"Field aggregation.alignment_period had an invalid value of \"{q.period:g}s\": "
                f"The alignment period must be at least {MIN_ALIGNMENT_SECONDS}s."
            )
        if not float(q.period).is_integer():
            raise Invalid(f"Field aggregation.alignment_period had an invalid value of \"{q.period}s\": "
                          "the alignment period must be a whole number of seconds.")
    if aligner != "ALIGN_NONE" and not q.period:
        raise Invalid("Field aggregation.alignment_period is required when per_series_aligner is not ALIGN_NONE "
                      f"(and must be at least {MIN_ALIGNMENT_SECONDS}s).")
    if aligner == "ALIGN_NONE" and reducer != "REDUCE_NONE":
        raise Invalid("Cross-series reduction (cross_series_reducer) requires a per_series_aligner other than ALIGN_NONE.")
    _check_aligner(spec, metric_type, aligner)
    aligned_type, aligned_kind = _aligned_types(spec, aligner)
    if reducer == "REDUCE_MAX" and aligned_type == DISTRIBUTION:
        raise Invalid(f"The reducer REDUCE_MAX is not valid for DISTRIBUTION values of {metric_type}.")
    group = [_group_field(f) for f in q.group_by]
    if group and reducer == "REDUCE_NONE":
        group = []  # the real API ignores group_by_fields without a reducer

    # the time range of ticks needed
    period = float(q.period) if aligner != "ALIGN_NONE" else 0.0
    end = q.end
    start = q.start if q.start is not None else end
    visible = min(traffic.visible_until(), end)
    if period:
        n_windows = max(1, math.ceil((end - start) / period - 1e-9))
        first_window_start = end - n_windows * period
        tick_after = first_window_start
    else:
        n_windows = 0
        tick_after = start if start < end else end - MIN_ALIGNMENT_SECONDS

    # raw series: (service key, revision, label values) → [(tick start, tick end, value)] oldest first
    services = _candidate_services(fleet, q.project, node)
    raw: dict[tuple, list[tuple[float, float, Any]]] = {}
    res_labels: dict[tuple, dict[str, str]] = {}
    for svc in services:
        ticks = traffic.ticks(svc, tick_after, visible) if visible > tick_after else []
        revisions = _candidate_revisions(svc, node)
        for tick in ticks:
            for rev_name, rt in tick.revisions.items():
                if rev_name not in revisions:
                    continue
                for label_values, value in spec.raw(rt):
                    key = (svc.project, svc.region, svc.name, rev_name, label_values)
                    series = raw.get(key)
                    if series is None:
                        series = raw[key] = []
                    series.append((rt.start, rt.end, value))
        for rev_name in revisions:
            res_labels[(svc.project, svc.region, svc.name, rev_name)] = {
                "project_id": svc.project,
                "location": svc.region,
                "service_name": svc.name,
                "revision_name": rev_name,
                "configuration_name": svc.name,
            }

    # filter whole series on their labels
    selected: list[Series] = []
    for key, points in raw.items():
        rl = res_labels[key[:4]]
        ml = dict(zip(spec.labels, key[4]))
        record = {"metric": {"type": metric_type, "labels": ml},
                  "resource": {"type": RESOURCE_TYPE, "labels": rl}, "project": q.project}
        if not filters.matches(node, record):
            continue
        if period:
            aligned = _align(points, spec, aligner, end, period, n_windows)
            if not aligned:
                continue
            selected.append(Series(rl, ml, aligned_kind, aligned_type, aligned))
        else:
            pts = [(s if spec.kind == DELTA else e, e, v) for s, e, v in reversed(points)]
            pts = [p for p in pts if p[1] <= end and (p[1] > start or start >= end)]
            if pts:
                selected.append(Series(rl, ml, spec.kind, spec.value_type, pts))

    if reducer != "REDUCE_NONE":
        selected = _reduce(selected, reducer, group, aligned_kind, aligned_type)
    selected.sort(key=Series.sort_key)
    return spec, selected


def _candidate_services(fleet: Fleet, project: str, node: filters.Node) -> list[SimService]:
    names = filters.allowed_values(node, ("resource", "labels", "service_name"))
    locations = filters.allowed_values(node, ("resource", "labels", "location"))
    projects = filters.allowed_values(node, ("resource", "labels", "project_id"))
    rtypes = filters.allowed_values(node, ("resource", "type"))
    if rtypes is not None and RESOURCE_TYPE not in rtypes:
        return []
    out = []
    for svc in fleet.services():
        if svc.project != project:
            continue
        if projects is not None and svc.project not in projects:
            continue
        if names is not None and svc.name not in names:
            continue
        if locations is not None and svc.region not in locations:
            continue
        out.append(svc)
    return out


def _candidate_revisions(svc: SimService, node: filters.Node) -> set[str]:
    allowed = filters.allowed_values(node, ("resource", "labels", "revision_name"))
    names = set(svc.revisions)
    return names if allowed is None else names & allowed


def _check_aligner(spec: MetricSpec, metric_type: str, aligner: str) -> None:
    where = f"metric {metric_type} ({spec.kind}, {spec.value_type})"
    if aligner in ("ALIGN_DELTA", "ALIGN_RATE") and spec.kind == GAUGE:
        raise Invalid(f"The aligner {aligner} is not valid for {where}: it needs a DELTA or CUMULATIVE metric.")
    if aligner in ("ALIGN_RATE", "ALIGN_MAX") and spec.value_type == DISTRIBUTION:
        raise Invalid(f"The aligner {aligner} is not valid for {where}: it needs numeric values.")


def _aligned_types(spec: MetricSpec, aligner: str) -> tuple[str, str]:
    """(value type, metric kind) of the aligned series."""
    if aligner == "ALIGN_RATE":
        return DOUBLE, GAUGE
    if aligner == "ALIGN_MEAN":
        return DOUBLE, spec.kind
    return spec.value_type, spec.kind


def _align(points: list[tuple[float, float, Any]], spec: MetricSpec, aligner: str, end: float, period: float,
           n_windows: int) -> list[tuple[float, float, Any]]:
    """One point per window (end − (i+1)·P, end − i·P] that holds raw points, newest first."""
    windows: dict[int, list[Any]] = {}
    for _, tick_end, value in points:
        i = math.floor((end - tick_end) / period + 1e-9) if tick_end < end else 0
        if tick_end > end or i >= n_windows:
            continue
        if end - (i + 1) * period < tick_end <= end - i * period:
            windows.setdefault(i, []).append(value)
    out = []
    for i in sorted(windows):
        values = windows[i]
        we = end - i * period
        ws = we - period
        if aligner in ("ALIGN_DELTA", "ALIGN_SUM"):
            value = _sum(values)
        elif aligner == "ALIGN_RATE":
            value = float(sum(values)) / period
        elif aligner == "ALIGN_MEAN":
            if spec.value_type == DISTRIBUTION:
                merged = _sum(values)
                value = float(merged.mean)
            else:
                value = float(sum(values)) / len(values)
        else:  # ALIGN_MAX
            value = max(values)
        kind = GAUGE if aligner == "ALIGN_RATE" else spec.kind
        out.append((ws if kind == DELTA else we, we, value))
    return out


def _sum(values: list[Any]) -> Any:
    if values and isinstance(values[0], Dist):
        merged = values[0].copy()
        for d in values[1:]:
            merged.merge(d)
        return merged
    return sum(values)


def _reduce(series: list[Series], reducer: str, group: list[tuple[str, str]], kind: str, value_type: str) -> list[Series]:
    groups: dict[tuple, list[Series]] = {}
    for s in series:
        key = tuple(
            "" if name == "type" else (s.resource_labels if where == "resource" else s.metric_labels).get(name, "")
            for where, name in group
        )
        groups.setdefault(key, []).append(s)
    out: list[Series] = []
    out_type = DOUBLE if reducer == "REDUCE_MEAN" else value_type
    for key, members in groups.items():
        by_end: dict[float, list[tuple[float, Any]]] = {}
        for s in members:
            for ps, pe, v in s.points:
                by_end.setdefault(pe, []).append((ps, v))
        points = []
        for pe in sorted(by_end, reverse=True):
            entries = by_end[pe]
            values = [v for _, v in entries]
            if reducer == "REDUCE_SUM":
                value = _sum(values)
            elif reducer == "REDUCE_MEAN":
                if isinstance(values[0], Dist):
                    value = float(_sum(values).mean)
                else:
                    value = float(sum(values)) / len(values)
            else:
                value = max(values)
            points.append((min(ps for ps, _ in entries), pe, value))
        rl = {name: v for (where, name), v in zip(group, key) if where == "resource" and name != "type"}
        ml = {name: v for (where, name), v in zip(group, key) if where == "metric" and name != "type"}
        out.append(Series(rl, ml, kind, out_type, points))
    return out


# ---------------------------------------------------------------------------------------------
# gRPC


def _pb_types() -> dict[str, Any]:
    from google.api import distribution_pb2, metric_pb2
    from google.cloud import monitoring_v3

    return {
        "request": monitoring_v3.ListTimeSeriesRequest.pb(),
        "response": monitoring_v3.ListTimeSeriesResponse.pb(),
        "distribution": distribution_pb2.Distribution,
        "kind": metric_pb2.MetricDescriptor.MetricKind,
        "vtype": metric_pb2.MetricDescriptor.ValueType,
        "aligner": monitoring_v3.Aggregation.Aligner,
        "reducer": monitoring_v3.Aggregation.Reducer,
    }


def _seconds(ts: Any) -> float:
    return ts.seconds + ts.nanos / 1e9


def _set_time(ts: Any, t: float) -> None:
    seconds = math.floor(t)
    ts.seconds = seconds
    ts.nanos = int(round((t - seconds) * 1e9))
    if ts.nanos >= 1_000_000_000:
        ts.seconds += 1
        ts.nanos -= 1_000_000_000


def _fill_distribution(pb: Any, d: Dist) -> None:
    pb.count = d.count
    pb.mean = d.mean
    pb.sum_of_squared_deviation = d.ssd
    if d.layout == "util":
        lin = pb.bucket_options.linear_buckets
        lin.num_finite_buckets, lin.width, lin.offset = UTIL_BUCKETS, UTIL_WIDTH, UTIL_OFFSET
    else:
        exp = pb.bucket_options.exponential_buckets
        exp.num_finite_buckets, exp.growth_factor, exp.scale = LATENCY_BUCKETS, LATENCY_GROWTH, LATENCY_SCALE
    pb.bucket_counts.extend(d.bucket_counts())


def _token_for(request: Any) -> str:
    clone = type(request)()
    clone.CopyFrom(request)
    clone.page_token = ""
    clone.page_size = 0
    return hashlib.sha256(clone.SerializeToString(deterministic=True)).hexdigest()[:16]


def _encode_token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "f": fingerprint}).encode()).decode()


def _decode_token(token: str, fingerprint: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, fp = int(data["o"]), str(data["f"])
    except Exception:  # noqa: BLE001 - any garbage is one answer
        raise Invalid(f"page_token {token!r} is not a token this API returned") from None
    if fp != fingerprint:
        raise Invalid("page_token does not belong to this request (the filter, interval or aggregation changed)")
    return offset


def handlers(fleet: Fleet, traffic: Traffic) -> list[grpc.GenericRpcHandler]:
    """The gRPC handlers of google.monitoring.v3.MetricService (ListTimeSeries)."""
    pb = _pb_types()
    Response = pb["response"]
    Kind, VType = pb["kind"], pb["vtype"]
    aligner_names = {int(v): k for k, v in pb["aligner"].__members__.items()}
    reducer_names = {int(v): k for k, v in pb["reducer"].__members__.items()}

    def list_time_series(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return _list(request)
        except Invalid as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    def _list(request: Any) -> Any:
        name = request.name
        if not name.startswith("projects/") or "/" in name[len("projects/"):] or name == "projects/":
            raise Invalid(f"name must be \"projects/PROJECT_ID\", not {name!r}")
        project = name[len("projects/"):]
        if not request.filter.strip():
            raise Invalid("filter is required and must name exactly one metric type")
        if not request.HasField("interval") or not request.interval.HasField("end_time"):
            raise Invalid("interval.end_time is required")
        agg = request.aggregation
        q = Query(
            project=project,
            filter=request.filter,
            start=_seconds(request.interval.start_time) if request.interval.HasField("start_time") else None,
            end=_seconds(request.interval.end_time),
            period=_seconds(agg.alignment_period) if agg.HasField("alignment_period") else 0.0,
            aligner=aligner_names.get(agg.per_series_aligner, str(agg.per_series_aligner)),
            reducer=reducer_names.get(agg.cross_series_reducer, str(agg.cross_series_reducer)),
            group_by=tuple(agg.group_by_fields),
        )
        if request.HasField("secondary_aggregation") and request.secondary_aggregation.per_series_aligner:
            raise Invalid("secondary_aggregation is not supported by the emulator")
        if request.order_by:
            raise Invalid("order_by is not supported by ListTimeSeries here (leave it empty)")
        if request.page_size < 0:
            raise Invalid("page_size must not be negative")
        spec, series = run_query(fleet, traffic, q)
        fingerprint = _token_for(request)
        offset = _decode_token(request.page_token, fingerprint) if request.page_token else 0
        size = min(request.page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        page = series[offset:offset + size]
        metric_type = filters.metric_type_of(filters.parse_monitoring(request.filter))
        response = Response()
        headers_only = request.view == 1  # HEADERS
        for s in page:
            ts = response.time_series.add()
            ts.metric.type = metric_type
            ts.metric.labels.update(s.metric_labels)
            ts.resource.type = RESOURCE_TYPE
            ts.resource.labels.update(s.resource_labels)
            ts.metric_kind = Kind.Value(s.kind)
            ts.value_type = VType.Value(s.value_type)
            ts.unit = spec.unit
            if headers_only:
                continue
            for ps, pe, value in s.points:
                point = ts.points.add()
                _set_time(point.interval.end_time, pe)
                _set_time(point.interval.start_time, ps)
                if s.value_type == INT64:
                    point.value.int64_value = int(value)
                elif s.value_type == DOUBLE:
                    point.value.double_value = float(value)
                else:
                    _fill_distribution(point.value.distribution_value, value)
        if offset + size < len(series):
            response.next_page_token = _encode_token(offset + size, fingerprint)
        response.unit = spec.unit
        return response

    method = grpc.unary_unary_rpc_method_handler(
        list_time_series,
        request_deserializer=pb["request"].FromString,
        response_serializer=lambda msg: msg.SerializeToString(),
    )
    return [grpc.method_handlers_generic_handler(SERVICE, {"ListTimeSeries": method})]
