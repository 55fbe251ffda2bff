"""Monitoring v3 ListTimeSeries through the real google-cloud-monitoring client."""

from __future__ import annotations

import pytest
from google.api import metric_pb2
from google.api_core import exceptions
from google.cloud import monitoring_v3, run_v2

from console.emulator import filters
from console.emulator.fleet import RECONCILE_SECONDS
from console.emulator.traffic import METRIC_DELAY_SECONDS

Aligner = monitoring_v3.Aggregation.Aligner
Reducer = monitoring_v3.Aggregation.Reducer
PROJECT = "vinsight-prod"
REQUEST_COUNT = "run.googleapis.com/request_count"
LATENCIES = "run.googleapis.com/request_latencies"
BY_REVISION_AND_CLASS = ["resource.label.revision_name", "metric.label.response_code_class"]


def request(
    end: float,
    minutes: int = 10,
    metric: str = REQUEST_COUNT,
    extra: str = "",
    period: int = 60,
    aligner=Aligner.ALIGN_DELTA,
    reducer=Reducer.REDUCE_SUM,
    group_by=BY_REVISION_AND_CLASS,
    **kwargs,
) -> monitoring_v3.ListTimeSeriesRequest:
    return monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{PROJECT}",
        filter=f'metric.type = "{metric}" AND resource.type = "cloud_run_revision" '
        f'AND resource.labels.service_name = "vinsight-backend"{extra}',
        interval=monitoring_v3.TimeInterval(
            start_time={"seconds": int(end - minutes * 60)}, end_time={"seconds": int(end)}
        ),
        aggregation=monitoring_v3.Aggregation(
            alignment_period={"seconds": period},
            per_series_aligner=aligner,
            cross_series_reducer=reducer,
            group_by_fields=list(group_by),
        ),
        **kwargs,
    )


def list_series(clients, req) -> list[monitoring_v3.TimeSeries]:
    return list(clients.metrics.list_time_series(request=req, retry=None, timeout=10))


def revisions(emu) -> tuple[str, str]:
    svc = emu.fleet.find(PROJECT, "us-central1", "vinsight-backend")
    names = list(svc.revisions)
    return names[-2], names[-1]


def test_request_count_grouped_by_revision_and_class(emu, clients, manual_clock):
    end = int(manual_clock.now())
    stable, _ = revisions(emu)
    series = list_series(clients, request(end))
    keys = [(s.resource.labels["revision_name"], s.metric.labels["response_code_class"]) for s in series]
    assert len(keys) == len(set(keys))  # one series per (revision, class)
    assert (stable, "2xx") in keys
    assert {k[0] for k in keys} == {stable}  # the candidate has no traffic yet
    for s in series:
        assert s.value_type == metric_pb2.MetricDescriptor.ValueType.INT64
        assert s.metric_kind == metric_pb2.MetricDescriptor.MetricKind.DELTA
        assert s.metric.type == REQUEST_COUNT and s.resource.type == "cloud_run_revision"
        assert set(s.resource.labels) == {"revision_name"}
        ends = [p.interval.end_time.timestamp() for p in s.points]
        assert ends == sorted(ends, reverse=True)  # newest first
        for p in s.points:
            window_end = p.interval.end_time.timestamp()
            assert (end - window_end) % 60 == 0  # stamped at window ends
            assert p.interval.start_time.timestamp() == window_end - 60
            assert window_end <= end - METRIC_DELAY_SECONDS
    ok = next(s for s in series if s.metric.labels["response_code_class"] == "2xx")
    assert len(ok.points) == 10 - METRIC_DELAY_SECONDS // 60
    assert all(1500 < p.value.int64_value < 3500 for p in ok.points)  # ≈ 40 req/s × 60 s


def test_unreduced_series_carry_every_label(emu, clients, manual_clock):
    end = manual_clock.now()
    series = list_series(clients, request(end, reducer=Reducer.REDUCE_NONE, group_by=[]))
    codes = {s.metric.labels["response_code"] for s in series}
    assert "200" in codes
    for s in series:
        assert set(s.resource.labels) == {"project_id", "location", "service_name", "revision_name", "configuration_name"}
        assert s.metric.labels["response_code_class"] == s.metric.labels["response_code"][0] + "xx"
    five = list_series(clients, request(end, minutes=60, extra=' AND metric.labels.response_code_class = "5xx"'))
    assert five and all(s.metric.labels["response_code_class"] == "5xx" for s in five)


def test_alignment_below_60s_is_refused(clients, manual_clock):
    with pytest.raises(exceptions.InvalidArgument, match="at least 60s"):
        list_series(clients, request(manual_clock.now(), period=30))
    with pytest.raises(exceptions.InvalidArgument, match="ALIGN_PERCENTILE_99"):
        list_series(clients, request(manual_clock.now(), aligner=Aligner.ALIGN_PERCENTILE_99))


@pytest.mark.parametrize(
    "bad, words",
    [
        ('metric.type = "run.googleapis.com/request_count" AND (resource.type = "x"', "missing ')'"),
        ('metric.type = "run.googleapis.com/nope"', "unknown metric type"),
        ('resource.type = "cloud_run_revision"', "exactly one metric type"),
        ('metric.type = "run.googleapis.com/request_count" AND resource.labelz.x = "y"', "unknown field"),
        ('metric.type = "run.googleapis.com/request_count" AND resource.labels.service_name = ', "missing value"),
    ],
)
def test_bad_filters_name_the_problem(clients, manual_clock, bad, words):
    req = request(manual_clock.now())
    req.filter = bad
    with pytest.raises(exceptions.InvalidArgument, match=words.replace("(", r"\(").replace(")", r"\)")):
        list_series(clients, req)


def test_latency_reduce_sum_is_the_bucketwise_sum(emu, clients, manual_clock):
    end = manual_clock.now()
    reduced = list_series(clients, request(end, metric=LATENCIES, group_by=["resource.labels.revision_name"]))
    parts = list_series(clients, request(end, metric=LATENCIES, reducer=Reducer.REDUCE_NONE, group_by=[]))
    assert len(reduced) == 1 and len(parts) >= 2  # per response class
    for point in reduced[0].points:
        at = point.interval.end_time
        dist = point.value.distribution_value
        assert dist.bucket_options.exponential_buckets.num_finite_buckets == 100
        assert dist.bucket_options.exponential_buckets.growth_factor == pytest.approx(1.4)
        summed: list[int] = []
        count = 0
        for s in parts:
            for p in s.points:
                if p.interval.end_time == at:
                    counts = list(p.value.distribution_value.bucket_counts)
                    summed = [a + b for a, b in zip(summed + [0] * len(counts), counts + [0] * len(summed))]
                    count += p.value.distribution_value.count
        while summed and summed[-1] == 0:
            summed.pop()
        assert list(dist.bucket_counts) == summed
        assert dist.count == count == sum(dist.bucket_counts)
        assert dist.bucket_counts[-1] != 0  # trailing zeros trimmed


def test_pagination_over_series(emu, clients, manual_clock):
    req = request(manual_clock.now(), minutes=60, reducer=Reducer.REDUCE_NONE, group_by=[])
    everything = list_series(clients, req)
    assert len(everything) >= 3
    req.page_size = 2
    pager = clients.metrics.list_time_series(request=req, retry=None, timeout=10)
    pages = list(pager.pages)
    assert len(pages) == (len(everything) + 1) // 2
    assert all(page.next_page_token for page in pages[:-1]) and not pages[-1].next_page_token
    paged = [s for page in pages for s in page.time_series]
    assert [monitoring_v3.TimeSeries.serialize(s) for s in paged] == [
        monitoring_v3.TimeSeries.serialize(s) for s in everything
    ]
    req.page_token = "bogus"
    with pytest.raises(exceptions.InvalidArgument, match="page_token"):
        list_series(clients, req)


def test_metric_delay_hides_the_newest_windows(emu, clients, manual_clock):
    end = manual_clock.now()
    series = list_series(clients, request(end, group_by=["resource.label.revision_name"]))
    newest = max(p.interval.end_time.timestamp() for p in series[0].points)
    assert newest == end - METRIC_DELAY_SECONDS
    manual_clock.advance(METRIC_DELAY_SECONDS)  # the same windows have now arrived
    later = list_series(clients, request(end, group_by=["resource.label.revision_name"]))
    assert max(p.interval.end_time.timestamp() for p in later[0].points) == end
    assert len(later[0].points) == 10
    # the windows seen before did not change when more data arrived
    before = {p.interval.end_time.timestamp(): p.value.int64_value for p in series[0].points}
    after = {p.interval.end_time.timestamp(): p.value.int64_value for p in later[0].points}
    assert all(after[t] == v for t, v in before.items())


def test_partial_window_holds_only_visible_ticks(emu, clients, manual_clock):
    end = manual_clock.now() - METRIC_DELAY_SECONDS + 30  # half of the newest window is visible
    series = list_series(clients, request(end, minutes=2, group_by=["resource.label.revision_name"]))
    points = series[0].points
    assert points[0].interval.end_time.timestamp() == end
    assert points[0].value.int64_value < 0.75 * points[1].value.int64_value


def test_traffic_split_change_shows_in_request_counts(emu, clients, manual_clock):
    stable, candidate = revisions(emu)
    name = f"projects/{PROJECT}/locations/us-central1/services/vinsight-backend"
    service = clients.services.get_service(name=name, retry=None, timeout=5)
    revision_type = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
    service.traffic = [
        run_v2.TrafficTarget(type_=revision_type, revision=stable, percent=50),
        run_v2.TrafficTarget(type_=revision_type, revision=candidate, percent=50, tag="candidate"),
    ]
    clients.services.update_service(request=run_v2.UpdateServiceRequest(service=service), retry=None, timeout=5)
    manual_clock.advance(RECONCILE_SECONDS + 1)
    changed = manual_clock.now()
    manual_clock.advance(10 * 60 + METRIC_DELAY_SECONDS)
    series = list_series(clients, request(changed + 600, minutes=9, group_by=["resource.label.revision_name"]))
    totals = {s.resource.labels["revision_name"]: sum(p.value.int64_value for p in s.points) for s in series}
    assert set(totals) == {stable, candidate}
    assert 0.4 < totals[candidate] / (totals[stable] + totals[candidate]) < 0.6
    # the rate aligner gives requests/s as doubles
    rates = list_series(clients, request(changed + 600, minutes=9, aligner=Aligner.ALIGN_RATE, group_by=[]))
    assert len(rates) == 1
    assert all(20 < p.value.double_value < 60 for p in rates[0].points)


def test_headers_view_and_usage_metrics(emu, clients, manual_clock):
    end = manual_clock.now()
    headers = list_series(
        clients, request(end, view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS)
    )
    assert headers and all(len(s.points) == 0 for s in headers)
    billable = list_series(
        clients, request(end, metric="run.googleapis.com/container/billable_instance_time", group_by=["resource.label.revision_name"])
    )
    assert billable and all(0 < p.value.double_value <= 60 * 10 for p in billable[0].points)
    instances = list_series(
        clients,
        request(end, metric="run.googleapis.com/container/instance_count", aligner=Aligner.ALIGN_MAX,
                group_by=["resource.label.revision_name", "metric.label.state"]),
    )
    states = {s.metric.labels["state"] for s in instances}
    assert states == {"active", "idle"}
    active = next(s for s in instances if s.metric.labels["state"] == "active")
    assert all(p.value.int64_value >= 1 for p in active.points)
    with pytest.raises(exceptions.InvalidArgument, match="GAUGE"):
        list_series(clients, request(end, metric="run.googleapis.com/container/instance_count"))
    cpu = list_series(clients, request(end, metric="run.googleapis.com/container/cpu/utilizations", group_by=[]))
    dist = cpu[0].points[0].value.distribution_value
    assert dist.bucket_options.linear_buckets.width == pytest.approx(0.01)
    assert 0 < dist.mean < 1


def test_filter_functions():
    node = filters.parse_monitoring(
        'metric.type = "m" AND resource.label.revision_name = one_of("a", "b") '
        'AND NOT metric.labels.response_code = starts_with("2") AND (resource.labels.location = "x" OR project = "p")'
    )
    record = {"metric": {"type": "m", "labels": {"response_code": "503"}},
              "resource": {"labels": {"revision_name": "b", "location": "y"}}, "project": "p"}
    assert filters.matches(node, record)
    record["metric"]["labels"]["response_code"] = "200"
    assert not filters.matches(node, record)
    assert filters.allowed_values(node, ("resource", "labels", "revision_name")) == {"a", "b"}


def test_raw_points_and_mean_reducer(emu, clients, manual_clock):
    end = manual_clock.now()
    raw = list_series(clients, request(end, minutes=5, aligner=Aligner.ALIGN_NONE, reducer=Reducer.REDUCE_NONE, group_by=[],
                                       extra=' AND metric.label.response_code = "200"', period=0))
    points = raw[0].points
    assert all(p.interval.end_time.timestamp() - p.interval.start_time.timestamp() == 10 for p in points)  # raw ticks
    assert points[0].interval.end_time.timestamp() == end - METRIC_DELAY_SECONDS
    aligned = list_series(clients, request(end, minutes=5, group_by=[], extra=' AND metric.label.response_code = "200"'))
    newest = aligned[0].points[0]
    in_window = [p.value.int64_value for p in points
                 if newest.interval.start_time.timestamp() < p.interval.end_time.timestamp() <= newest.interval.end_time.timestamp()]
    assert sum(in_window) == newest.value.int64_value
    mean = list_series(clients, request(end, minutes=5, reducer=Reducer.REDUCE_MEAN, group_by=[]))
    assert len(mean) == 1 and all(p.value.double_value > 0 for p in mean[0].points)
    with pytest.raises(exceptions.InvalidArgument, match="requires a per_series_aligner"):
        list_series(clients, request(end, aligner=Aligner.ALIGN_NONE, period=0))
