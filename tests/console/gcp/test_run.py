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


def test_a_traffic_write_sends_only_traffic_and_annotations_under_a_mask(run):
    """No template in the request (a resent template can be a 409), and every other setting stays."""
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
    request = sent[0]
    assert list(request.update_mask.paths) == ["traffic", "annotations"]
    assert "template" not in request.service and "ingress" not in request.service and "labels" not in request.service
    assert request.service.etag == raw.etag
    assert dict(request.service.annotations) == {**dict(raw.annotations), "vinconsole.dev/x": "1"}
    after = client.get_service(name=name)
    assert after.template == raw.template and after.ingress == raw.ingress and after.labels == raw.labels


def _deploy_named_revision(clients, manual_clock, revision: str) -> None:
    """What `gcloud run deploy --revision-suffix` does: a new revision named in the template."""
    from google.cloud import run_v2

    name = "projects/vinsight-staging/locations/us-central1/services/vinsight-backend"
    raw = clients.services.get_service(name=name)
    template = run_v2.RevisionTemplate(
        revision=revision, containers=[run_v2.Container(image="us-docker.pkg.dev/vinsight/app/backend:v2.0.0")]
    )
    request = run_v2.UpdateServiceRequest(
        service=run_v2.Service(name=name, etag=raw.etag, template=template), update_mask={"paths": ["template"]}
    )
    clients.services.update_service(request=request).result(timeout=10)
    manual_clock.advance(60)  # ready


def test_a_service_whose_template_names_a_revision_still_takes_traffic_writes(run, manual_clock):
    """Resending the template as read is Cloud Run's 409; the console's masked write is not."""
    from google.api_core import exceptions

    _deploy_named_revision(run.clients, manual_clock, "vinsight-backend-v2")
    name = "projects/vinsight-staging/locations/us-central1/services/vinsight-backend"
    raw = run.clients.services.get_service(name=name)
    assert raw.template.revision == "vinsight-backend-v2"
    with pytest.raises(exceptions.AlreadyExists, match="Revision named 'vinsight-backend-v2' with different configuration"):
        run.clients.services.update_service(service=raw).result(timeout=10)  # the old read-modify-write
    state, _, stable, _ = _pair(run)
    after = run.write_traffic(
        state, [TrafficTarget(90, stable), TrafficTarget(10, "vinsight-backend-v2", "candidate")], {"vinconsole.dev/x": "1"}
    )
    assert after.served_split() == {stable: 90, "vinsight-backend-v2": 10}


def test_an_image_deploy_after_a_named_revision_makes_a_new_one(run, manual_clock):
    _deploy_named_revision(run.clients, manual_clock, "vinsight-backend-v2")
    state = run.get_service(*STAGING, "vinsight-backend")
    before = {r.name for r in run.list_revisions(*STAGING, "vinsight-backend")}
    after = run.deploy_image(state, "us-docker.pkg.dev/vinsight/app/backend:v2.0.1", pin=state.served_split())
    new = [r for r in run.list_revisions(*STAGING, "vinsight-backend") if r.name not in before]
    assert len(new) == 1 and new[0].image.endswith(":v2.0.1")
    assert after.served_split() == state.served_split()


def test_an_operation_that_outlives_the_wait_is_resolved_by_re_reading(emulator, clients_for):
    """.result() raises concurrent.futures.TimeoutError; the write re-reads, sees it accepted, verifies it."""
    from console.clock import Clock

    emu = emulator(clock=Clock(60))  # reconciles in 0.05 s real
    run = CloudRun(clients_for(emu))
    run.operation_timeout = 0.5
    emu.hold_operations(3600)
    state, _, stable, candidate = _pair(run)
    after = run.write_traffic(state, [TrafficTarget(80, stable), TrafficTarget(20, candidate, "candidate")])
    assert after.served_split() == {stable: 80, candidate: 20}


def test_a_timed_out_operation_is_a_typed_unavailable_error():
    import concurrent.futures

    from console.gcp.clients import OPERATION_TIMEOUT, guarded

    def wait():
        raise concurrent.futures.TimeoutError("Operation did not complete within the designated timeout of 1 seconds.")

    with pytest.raises(UnavailableError) as caught:
        guarded("UpdateService(vinsight-backend)", wait)
    assert caught.value.code == OPERATION_TIMEOUT
    assert "UpdateService(vinsight-backend)" in str(caught.value) and "re-read" in str(caught.value)


def test_informational_conditions_do_not_make_a_revision_unhealthy(run):
    """The candidate at 0 % is in RESERVE (Active failed, severity INFO): ready, no problem reported."""
    from google.cloud import run_v2

    state, _, stable, candidate = _pair(run)
    raw = run.clients.revisions.get_revision(
        name=f"projects/vinsight-staging/locations/us-central1/services/vinsight-backend/revisions/{candidate}")
    active = next(c for c in raw.conditions if c.type_ == "Active")
    assert active.state == run_v2.Condition.State.CONDITION_FAILED
    assert active.revision_reason == run_v2.Condition.RevisionReason.RESERVE
    assert active.severity == run_v2.Condition.Severity.INFO
    revision = {r.name: r for r in run.list_revisions(*STAGING, "vinsight-backend")}[candidate]
    assert revision.ready and revision.ready_message == ""


def test_a_crash_looping_revision_is_still_reported(emulator, clients_for):
    run = CloudRun(clients_for(emulator(scenario="crashloop")))
    _, _, _, candidate = _pair(run)
    revision = {r.name: r for r in run.list_revisions(*STAGING, "vinsight-backend")}[candidate]
    assert "Container failed to start" in revision.ready_message


def test_an_image_deploy_whose_operation_outlives_the_wait_is_found_by_re_reading(emulator, clients_for):
    from console.clock import Clock

    emu = emulator(clock=Clock(60))
    run = CloudRun(clients_for(emu))
    run.deploy_timeout = 0.5
    emu.hold_operations(3600)
    state = run.get_service(*STAGING, "vinsight-backend")
    before = {r.name for r in run.list_revisions(*STAGING, "vinsight-backend")}
    after = run.deploy_image(state, "us-docker.pkg.dev/vinsight/app/backend:v3.0.0", pin=state.served_split())
    assert after.served_split() == state.served_split()
    new = [r for r in run.list_revisions(*STAGING, "vinsight-backend") if r.name not in before]
    assert [r.image for r in new] == ["us-docker.pkg.dev/vinsight/app/backend:v3.0.0"]


def test_image_deploys_wait_minutes_for_their_operation(run):
    assert run.deploy_timeout >= 300 and run.operation_timeout == 30.0
