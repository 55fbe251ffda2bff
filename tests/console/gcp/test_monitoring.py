"""Batched Monitoring reads against the emulator, through the real google-cloud-monitoring client."""

import pytest

from console.distribution import merge_all
from console.errors import UnavailableError, UsageError
from console.gcp.monitoring import Metrics
from console.gcp.run import CloudRun
from console.model import TrafficTarget

STAGING = ("vinsight-staging", "us-central1")


def test_one_read_returns_every_revision_of_every_service(emulator, clients_for, manual_clock):
    emu = emulator()
    metrics = Metrics(clients_for(emu))
    now = manual_clock.now()
    end = (now - 180) // 60 * 60
    windows = metrics.revision_windows(*STAGING, end - 600, end)
    services = {service for service, _ in windows}
    assert services == {"vinsight-backend", "vinsight-frontend"}
    for per_window in windows.values():
        assert set(per_window) <= {end - 60 * k for k in range(10)}  # stamped at window ends
        for stats in per_window.values():
            assert stats.requests > 0 and stats.latency is not None
            assert stats.billable_instance_seconds is not None and stats.instances


def test_alignment_under_60_s_is_refused(emulator, clients_for, manual_clock):
    from google.api_core import exceptions
    from google.cloud import monitoring_v3

    emu = emulator()
    clients = clients_for(emu)
    now = manual_clock.now()
    with pytest.raises(UsageError, match="60 s minimum"):
        Metrics(clients).revision_windows(*STAGING, now - 600, now, period=30)
    with pytest.raises(exceptions.InvalidArgument):  # and the API itself refuses it too
        list(
            clients.metrics.list_time_series(
                request={
                    "name": "projects/vinsight-staging",
                    "filter": 'metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision"',
                    "interval": {"start_time": {"seconds": int(now - 600)}, "end_time": {"seconds": int(now)}},
                    "aggregation": {
                        "alignment_period": {"seconds": 30},
                        "per_series_aligner": monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
                    },
                },
                retry=None,
            )
        )


def test_merged_percentiles_differ_from_a_percentile_of_percentiles(emulator, clients_for, manual_clock):
    """Half the traffic on a ×3 slower candidate: the service's true p95 comes from merged buckets."""
    emu = emulator(scenario="slow")
    clients = clients_for(emu)
    run = CloudRun(clients, manual_clock)
    state = run.get_service(*STAGING, "vinsight-backend")
    stable = next(r for r, p in state.served_split().items() if p == 100)
    candidate = state.tags()["candidate"]
    run.write_traffic(state, [TrafficTarget(50, stable), TrafficTarget(50, candidate, "candidate")])
    manual_clock.advance(900)
    end = (manual_clock.now() - 180) // 60 * 60
    windows = Metrics(clients).revision_windows(*STAGING, end - 300, end, service="vinsight-backend", usage=False)
    per_revision = {
        revision: merge_all([w.latency for w in per_window.values() if w.latency])
        for (_, revision), per_window in windows.items()
    }
    merged = merge_all(list(per_revision.values()))
    true_p95 = merged.percentile(0.95)
    mean_of_p95 = sum(h.percentile(0.95) for h in per_revision.values()) / len(per_revision)
    assert per_revision[candidate].percentile(0.95) > 2 * per_revision[stable].percentile(0.95)
    assert abs(true_p95 - mean_of_p95) / true_p95 > 0.15


def test_unavailable_after_retries_is_a_typed_error(emulator, clients_for, manual_clock):
    emu = emulator()
    metrics = Metrics(clients_for(emu))
    emu.inject_fault("ListTimeSeries", "UNAVAILABLE", times=1000)
    metrics.clients.retry_deadline = 1.5  # retried with backoff, then given up: quickly in a test
    now = manual_clock.now()
    with pytest.raises(UnavailableError, match="ListTimeSeries"):
        metrics.revision_windows(*STAGING, now - 600, now)
