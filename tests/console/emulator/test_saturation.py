"""Saturation in the emulator, read back through the real Google clients: OOM kills of a leaking
candidate (system log lines, 503s, memory near its limit), cold starts, and healthy revisions."""

from __future__ import annotations

from console.emulator.fleet import REVISION, TrafficEntry
from console.emulator.system_logs import MEMORY, SIGKILL
from console.gcp.logs import Logs, container_starts, system_log_entries
from console.gcp.monitoring import Metrics
from console.saturation import ContainerEventKind, container_events, events_by_revision, summarize_saturation

PROJECT, REGION = "vinsight-staging", "us-central1"


def split(emu, manual_clock, percent: int) -> tuple[str, str, float]:
    """Give the backend's candidate `percent` from now on; return (stable, candidate, start)."""
    svc = emu.fleet.find(PROJECT, REGION, "vinsight-backend")
    stable, candidate = list(svc.revisions)[-2:]
    start = manual_clock.now()
    with emu.fleet.lock:
        svc.record_served([TrafficEntry(REVISION, stable, 100 - percent), TrafficEntry(REVISION, candidate, percent)],
                          start)
    return stable, candidate, start


def saturation_of(clients, key, start, end, requests):
    windows = Metrics(clients).saturation_windows(PROJECT, REGION, start, end, service="vinsight-backend")
    return summarize_saturation(list(windows.get(key, {}).values()), end - start, requests)


def test_a_leaking_candidate_is_oom_killed_and_its_requests_get_503(emulator, clients_for, manual_clock):
    emu = emulator(scenario="oom")
    clients = clients_for(emu)
    stable, candidate, start = split(emu, manual_clock, 10)
    manual_clock.advance(600)
    entries = system_log_entries(Logs(clients), PROJECT, REGION, start, service="vinsight-backend")
    events = events_by_revision(container_events(entries))
    assert events[candidate].oom_kills >= 3  # one instance, killed every ≈ 2¼ minutes
    assert stable not in events  # stable neither leaks nor crashes
    assert events[candidate].oom_line.startswith("Memory limit of 512 MiB exceeded with ")
    kinds = [e.kind for e in container_events(entries) if e.revision == candidate]
    assert kinds.count(ContainerEventKind.TERMINATED) == kinds.count(ContainerEventKind.OOM_KILL)
    assert {e.severity for e in entries} == {"ERROR", "WARNING"}  # the filter keeps WARNING or worse
    # the kills show in Monitoring too: 503s, restarts, memory near the limit
    end = (manual_clock.now() - 180) // 60 * 60
    counts = emu.traffic.revision_counts(emu.fleet.find(PROJECT, REGION, "vinsight-backend"), candidate, start, end)
    assert counts.get("5xx", 0) >= 3
    sat = saturation_of(clients, ("vinsight-backend", candidate), start, end, sum(counts.values()))
    assert sat.memory_p95 is not None and sat.memory_p95 > 0.9
    assert sat.startups and sat.startups >= 2


def test_a_coldstart_candidate_starts_an_instance_for_many_requests(emulator, clients_for, manual_clock):
    emu = emulator(scenario="coldstart")
    clients = clients_for(emu)
    stable, candidate, start = split(emu, manual_clock, 50)
    manual_clock.advance(600)
    end = (manual_clock.now() - 180) // 60 * 60
    svc = emu.fleet.find(PROJECT, REGION, "vinsight-backend")
    figures = {}
    for revision in (stable, candidate):
        requests = sum(emu.traffic.revision_counts(svc, revision, start, end).values())
        figures[revision] = saturation_of(clients, ("vinsight-backend", revision), start, end, requests)
    assert figures[candidate].cold_start_share > 0.05 > 0.01 > figures[stable].cold_start_share
    assert figures[candidate].startup_p95_ms > 2 * figures[stable].startup_p95_ms
    # the system log says nothing alarming: starts are INFO
    assert system_log_entries(Logs(clients), PROJECT, REGION, start, service="vinsight-backend") == []
    # ... and it has a line for every start Monitoring counts (the judge's figure on the request log's pace)
    starts = container_starts(Logs(clients), PROJECT, REGION, start, end, service="vinsight-backend")
    assert starts[candidate] == figures[candidate].startups > 5 * max(1, starts.get(stable, 0))
    assert starts.get(stable, 0) == figures[stable].startups


def test_healthy_revisions_have_cpu_memory_and_starts(emulator, clients_for, manual_clock):
    emu = emulator()
    clients = clients_for(emu)
    end = (manual_clock.now() - 180) // 60 * 60
    windows = Metrics(clients).saturation_windows(PROJECT, REGION, end - 1800, end)
    assert {service for service, _ in windows} == {"vinsight-backend", "vinsight-frontend"}
    for per_window in windows.values():
        sat = summarize_saturation(list(per_window.values()), 1800, 1000)
        assert 0 < sat.cpu_p95 < 1 and 0 < sat.memory_p95 < 1
        assert sat.startups_per_minute is not None and sat.cold_start_share is not None
        assert any(w.active_instances for w in per_window.values())


def test_system_log_lines_are_cloud_runs_own():
    assert MEMORY.startswith("Memory limit of {limit} MiB exceeded with {used} MiB used.")
    assert SIGKILL == "Container terminated on signal 9."
