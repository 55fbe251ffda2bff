"""The Cloud Run access layer against the emulator, through the real google-cloud-run client."""

import pytest

from console.errors import ConflictError, UnavailableError, UsageError
from console.gcp.run import CloudRun, parse_cpu, parse_memory_gib
from console.model import TrafficTarget

STAGING = ("vinsight-staging", "us-central1")


@pytest.fixture
def run(emulator, clients_for, manual_clock):
    return CloudRun(clients_for(emulator()), manual_clock)


def _pair(run):
    state = run.get_service(*STAGING, "vinsight-backend")
    revisions = run.list_revisions(*STAGING, "vinsight-backend")
    stable = next(name for name, pct in state.served_split().items() if pct == 100)
    candidate = state.tags()["candidate"]
    return state, revisions, stable, candidate


def test_lists_services_with_traffic_and_tag_urls(run):
    services = {s.name: s for s in run.list_services(*STAGING)}
    assert set(services) == {"vinsight-backend", "vinsight-frontend"}
    for service in services.values():
        assert sum(service.served_split().values()) == 100
        assert service.tag_uris()["candidate"].startswith("http://127.0.0.1:")


def test_revisions_newest_first_with_resources(run):
    revisions = run.list_revisions(*STAGING, "vinsight-backend")
    assert len(revisions) >= 2
    assert [r.created for r in revisions] == sorted((r.created for r in revisions), reverse=True)
    assert all(r.cpu > 0 and r.memory_gib > 0 and r.image for r in revisions)


def test_traffic_write_is_verified_and_carries_annotations(run):
    state, revisions, stable, candidate = _pair(run)
    after = run.write_traffic(
        state,
        [TrafficTarget(90, stable, "stable"), TrafficTarget(10, candidate, "candidate")],
        {"vinconsole.dev/rollout": '{"phase":"baking"}'},
    )
    assert after.served_split() == {stable: 90, candidate: 10}
    assert after.annotations["vinconsole.dev/rollout"] == '{"phase":"baking"}'
    assert after.etag != state.etag
    # a third reader sees the same
    assert run.get_service(*STAGING, "vinsight-backend").served_split() == {stable: 90, candidate: 10}


def test_stale_write_is_refused_as_conflict(run):
    state, _, stable, candidate = _pair(run)
    run.write_traffic(state, [TrafficTarget(50, stable), TrafficTarget(50, candidate, "candidate")])
    with pytest.raises(ConflictError):
        run.write_traffic(state, [TrafficTarget(100, stable)])
    assert run.get_service(*STAGING, "vinsight-backend").served_split() == {stable: 50, candidate: 50}


def test_stale_etag_is_refused_by_the_api_itself(run, emulator):
    """Even when our own pre-check is skipped, the emulator (like Cloud Run may) enforces the etag."""
    from google.api_core import exceptions
    from google.cloud import run_v2

    clients = run.clients
    raw = clients.services.get_service(name="projects/vinsight-staging/locations/us-central1/services/vinsight-backend")
    state, _, stable, candidate = _pair(run)
    run.write_traffic(state, [TrafficTarget(80, stable), TrafficTarget(20, candidate, "candidate")])
    raw.traffic = [run_v2.TrafficTarget(type_=2, revision=stable, percent=100)]
    with pytest.raises(exceptions.Aborted):
        clients.services.update_service(service=raw).result(timeout=10)


def test_bad_splits_never_reach_the_api(run):
    state, _, stable, candidate = _pair(run)
    with pytest.raises(UsageError, match="sum to 100"):
        run.write_traffic(state, [TrafficTarget(90, stable), TrafficTarget(20, candidate)])
    with pytest.raises(UsageError, match="does not exist"):
        run.write_traffic(state, [TrafficTarget(100, "nope-00001-abc")])
    with pytest.raises(UsageError, match="reserved"):
        run.write_traffic(state, [TrafficTarget(100, stable)], {"run.googleapis.com/ingress": "all"})


def test_unavailable_becomes_a_typed_error_naming_the_call(emulator, clients_for):
    emu = emulator()
    run = CloudRun(clients_for(emu), emu.clock)
    emu.inject_fault("GetService", "UNAVAILABLE", times=1000)
    run.clients.retry_deadline = 1.5  # retried with backoff, then given up: quickly in a test
    with pytest.raises(UnavailableError) as caught:
        run.get_service(*STAGING, "vinsight-backend")
    assert "GetService(vinsight-backend)" in str(caught.value)
    assert "try again" in str(caught.value)


def test_transient_unavailable_is_retried(emulator, clients_for):
    emu = emulator()
    run = CloudRun(clients_for(emu), emu.clock)
    emu.inject_fault("ListRevisions", "UNAVAILABLE", times=2)
    assert run.list_revisions(*STAGING, "vinsight-backend")


def test_permission_denied_says_which_roles(emulator, clients_for):
    from console.errors import PermissionDeniedError

    emu = emulator()
    run = CloudRun(clients_for(emu), emu.clock)
    emu.inject_fault("ListServices", "PERMISSION_DENIED")
    with pytest.raises(PermissionDeniedError, match="run.developer"):
        run.list_services(*STAGING)


def test_resource_quantities():
    assert parse_cpu("1000m") == 1.0 and parse_cpu("2") == 2.0
    assert parse_memory_gib("512Mi") == 0.5 and parse_memory_gib("2Gi") == 2.0


def test_write_survives_an_unavailable_update(emulator, clients_for):
    emu = emulator()
    run = CloudRun(clients_for(emu), emu.clock)
    state, _, stable, candidate = _pair(run)
    emu.inject_fault("UpdateService", "UNAVAILABLE", times=2)
    after = run.write_traffic(state, [TrafficTarget(90, stable), TrafficTarget(10, candidate, "candidate")])
    assert after.served_split() == {stable: 90, candidate: 10}


def test_a_traffic_write_sends_every_other_setting_back_unchanged(run):
    """UpdateService replaces the service: ingress, scaling, invoker settings... must go back as read."""
    from google.cloud import run_v2

    sent = []
    client = run.clients.services
    original = client.update_service

    def spy(*args, **kwargs):
        sent.append(kwargs["request"])
        return original(*args, **kwargs)

    client.update_service = spy
    name = "projects/vinsight-staging/locations/us-central1/services/vinsight-backend"
    raw = client.get_service(name=name)
    state, _, stable, candidate = _pair(run)
    run.write_traffic(state, [TrafficTarget(90, stable), TrafficTarget(10, candidate, "candidate")], {"vinconsole.dev/x": "1"})
    request = sent[0].service
    assert request.etag == raw.etag
    assert dict(request.annotations) == {**dict(raw.annotations), "vinconsole.dev/x": "1"}
    as_read = run_v2.Service.deserialize(run_v2.Service.serialize(request))
    as_read.traffic = raw.traffic
    as_read.annotations = raw.annotations
    assert as_read == raw  # field by field (map order makes the bytes differ)
