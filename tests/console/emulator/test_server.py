"""The emulator as a whole: start/stop, scenarios, fault injection, loopback HTTP, run_forever."""

from __future__ import annotations

import io
import threading

import httpx
import pytest
from google.api_core import exceptions
from google.cloud import run_v2

from console.clock import Clock
from console.emulator import SCENARIOS, Emulator, run_forever

PROD = "projects/vinsight-prod/locations/us-central1"
BACKEND = f"{PROD}/services/vinsight-backend"
FRONTEND = f"{PROD}/services/vinsight-frontend"


def candidate_uri(service: run_v2.Service) -> str:
    return next(s.uri for s in service.traffic_statuses if s.tag == "candidate")


def test_scenarios_are_named():
    assert SCENARIOS == ("healthy", "regression", "slow", "crashloop", "low-traffic", "flaky-api", "incident", "oom",
                         "coldstart")


def test_unknown_scenario_names_the_known_ones(repo_config):
    with pytest.raises(ValueError, match="crashloop"):
        Emulator(repo_config, scenario="nope")


def test_injected_fault_reaches_the_client(emu, clients):
    emu.inject_fault("GetService", "UNAVAILABLE", times=2)
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable):
            clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert clients.services.get_service(name=BACKEND, retry=None, timeout=5).name == BACKEND
    emu.inject_fault("UpdateService", "PERMISSION_DENIED")
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    with pytest.raises(exceptions.PermissionDenied):
        clients.services.update_service(service=service, retry=None, timeout=5)
    assert clients.services.get_service(name=BACKEND, retry=None, timeout=5).etag == service.etag  # nothing changed
    emu.inject_fault("ListRevisions", "RESOURCE_EXHAUSTED")
    with pytest.raises(exceptions.ResourceExhausted):
        list(clients.revisions.list_revisions(parent=BACKEND, retry=None, timeout=5))
    with pytest.raises(ValueError, match="UNAVAILABLE"):
        emu.inject_fault("GetService", "TEAPOT")


def test_flaky_api_fails_some_calls_but_keeps_traffic(emulator, clients_for):
    emu = emulator(scenario="flaky-api", seed=3)
    clients = clients_for(emu)
    failures = 0
    for _ in range(60):
        try:
            clients.services.get_service(name=FRONTEND, retry=None, timeout=5)
        except exceptions.ServiceUnavailable:
            failures += 1
    assert 0 < failures < 15
    conflicts = 0
    for _ in range(20):
        try:
            service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
            clients.services.update_service(service=service, retry=None, timeout=5)
        except exceptions.Aborted:
            conflicts += 1
        except exceptions.ServiceUnavailable:
            pass
    assert 0 < conflicts < 12
    svc = emu.fleet.find("vinsight-prod", "us-central1", "vinsight-backend")
    assert sum(e.percent for e in svc.traffic) == 100


def test_tag_uri_answers_http(emu, clients, repo_config):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    uri = candidate_uri(service)
    candidate = next(s.revision for s in service.traffic_statuses if s.tag == "candidate")
    health = httpx.get(uri + "/health", timeout=5)
    assert health.status_code == 200 and health.json() == {
        "status": "ok",
        "service": "vinsight-backend",
        "revision": candidate,
        "path": "/health",
    }
    assert httpx.get(uri + "/api/stock/AAPL", timeout=5).status_code == 200
    assert httpx.get(uri + "/nope", timeout=5).status_code == 404
    through_service = httpx.get(service.uri + "/health", timeout=5)
    assert through_service.status_code == 200 and through_service.json()["revision"] != candidate  # stable: 100 %

    frontend = clients.services.get_service(name=FRONTEND, retry=None, timeout=5)
    index = httpx.get(candidate_uri(frontend) + "/", timeout=5)
    assert index.status_code == 200 and "VinSight" in index.text


def test_regression_candidate_still_passes_smoke(emulator, clients_for):
    clients = clients_for(emulator(scenario="regression"))
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert httpx.get(candidate_uri(service) + "/health", timeout=5).status_code == 200


def test_crashloop_candidate_answers_503(emulator, clients_for):
    clients = clients_for(emulator(scenario="crashloop"))
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    uri = candidate_uri(service)
    assert httpx.get(uri + "/health", timeout=5).status_code == 503
    assert httpx.get(uri + "/api/stock/AAPL", timeout=5).status_code == 503
    revision = clients.revisions.get_revision(name=service.latest_created_revision, retry=None, timeout=5)
    healthy = next(c for c in revision.conditions if c.type_ == "ContainerHealthy")
    assert healthy.state == run_v2.Condition.State.CONDITION_FAILED
    assert "restarted" in healthy.message and "port 8080" in healthy.message
    # stable is fine
    assert httpx.get(service.uri + "/health", timeout=5).status_code == 200


def test_incident_scenario(emulator, manual_clock):
    emu = emulator(scenario="incident")
    backend = emu.fleet.find("vinsight-prod", "us-central1", "vinsight-backend")
    newest = list(backend.revisions.values())[-1]
    now = manual_clock.now()
    assert backend.split_at(now) == {newest.name: 1.0}
    assert newest.behavior_at(now).error_rate == pytest.approx(0.06)
    assert len(set(newest.behavior_at(now).error_messages)) >= 3
    when, percents = backend.split_changes()[-1]
    assert percents == {newest.name: 100} and 15 * 60 <= now - when <= 25 * 60
    previous = backend.split_at(now - 3600)
    assert newest.name not in previous and sum(previous.values()) == pytest.approx(1.0)
    frontend = emu.fleet.find("vinsight-prod", "us-central1", "vinsight-frontend")
    assert all(r.behavior_at(now).error_rate < 0.01 for r in frontend.revisions.values())


def test_stop_closes_every_port(repo_config, manual_clock, clients_for):
    emu = Emulator(repo_config, clock=manual_clock)
    with emu:
        clients = clients_for(emu)
        uri = candidate_uri(clients.services.get_service(name=BACKEND, retry=None, timeout=5))
        assert httpx.get(uri + "/health", timeout=5).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(uri + "/health", timeout=2)
    with pytest.raises((exceptions.ServiceUnavailable, exceptions.DeadlineExceeded)):
        clients.services.get_service(name=BACKEND, retry=None, timeout=2)


def test_run_forever_prints_where_it_listens(repo_config):
    out = io.StringIO()
    stop = threading.Event()
    clock = Clock(scale=60.0, epoch=1_800_000_000.0)
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(run_forever(repo_config, "slow", 0, clock, out=out, stop=stop)), daemon=True
    )
    thread.start()
    for _ in range(100):
        if out.getvalue().count("\n") >= 2:
            break
        threading.Event().wait(0.05)
    stop.set()
    thread.join(timeout=10)
    assert result == [0]
    first, export = out.getvalue().splitlines()[:2]
    assert first.startswith("vinconsole emulator listening on 127.0.0.1:")
    assert first.endswith("(scenario slow, time ×60)")
    address = first.split()[4]
    assert export == (
        f"export VINCONSOLE_EMULATOR_HOST={address} VINCONSOLE_TIME_SCALE=60.0 VINCONSOLE_TIME_EPOCH=1800000000.0"
    )
