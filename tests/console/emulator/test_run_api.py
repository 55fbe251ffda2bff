"""Cloud Run Admin v2 + long-running operations, through the real google-cloud-run client."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import run_v2

from console.emulator.fleet import REVISION_READY_SECONDS

PROD = "projects/vinsight-prod/locations/us-central1"
STAGING = "projects/vinsight-staging/locations/us-central1"
BACKEND = f"{PROD}/services/vinsight-backend"
REVISION_TYPE = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST_TYPE = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST


def short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def served(service: run_v2.Service) -> dict[str, int]:
    split: dict[str, int] = {}
    for status in service.traffic_statuses:
        if status.percent:
            split[status.revision] = split.get(status.revision, 0) + status.percent
    return split


def revisions_of(clients, service: str = BACKEND) -> list[run_v2.Revision]:
    return list(clients.revisions.list_revisions(parent=service, retry=None, timeout=5))


def split_request(service: run_v2.Service, *entries: tuple[str | None, int, str]) -> run_v2.UpdateServiceRequest:
    """The service as read, with its traffic replaced by (revision or None for LATEST, percent, tag)."""
    service.traffic = [
        run_v2.TrafficTarget(
            type_=LATEST_TYPE if revision is None else REVISION_TYPE, revision=revision or "", percent=percent, tag=tag
        )
        for revision, percent, tag in entries
    ]
    return run_v2.UpdateServiceRequest(service=service)


def test_list_services_per_region(clients):
    for parent in (PROD, STAGING):
        services = list(clients.services.list_services(parent=parent, retry=None, timeout=5))
        assert sorted(short(s.name) for s in services) == ["vinsight-backend", "vinsight-frontend"]
        for service in services:
            assert service.name.startswith(parent + "/services/")
            assert sum(t.percent for t in service.traffic) == 100
            assert sum(s.percent for s in service.traffic_statuses) == 100
            assert service.etag and service.uid and service.uri.startswith("http://127.0.0.1:")
            assert service.observed_generation == service.generation and not service.reconciling
            assert service.terminal_condition.type_ == "Ready"
            assert service.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
            assert service.latest_ready_revision.startswith(service.name + "/revisions/")
            tagged = [s for s in service.traffic_statuses if s.tag]
            assert [s.tag for s in tagged] == ["candidate"]
            assert tagged[0].percent == 0 and tagged[0].uri.startswith("http://127.0.0.1:")
            limits = service.template.containers[0].resources.limits
            assert dict(limits) == {"cpu": "1", "memory": "512Mi"}


def test_list_services_refuses_every_location(clients):
    with pytest.raises(exceptions.InvalidArgument, match="'-'"):
        list(clients.services.list_services(parent="projects/vinsight-prod/locations/-", retry=None, timeout=5))


def test_unknown_service_and_project(clients):
    with pytest.raises(exceptions.NotFound):
        clients.services.get_service(name=f"{PROD}/services/nope", retry=None, timeout=5)
    with pytest.raises(exceptions.PermissionDenied):
        clients.services.get_service(name="projects/other/locations/us-central1/services/x", retry=None, timeout=5)


def test_pagination(clients):
    pager = clients.services.list_services(
        request=run_v2.ListServicesRequest(parent=PROD, page_size=1), retry=None, timeout=5
    )
    pages = list(pager.pages)
    assert len(pages) == 2
    assert pages[0].next_page_token and not pages[1].next_page_token
    assert [short(p.services[0].name) for p in pages] == ["vinsight-backend", "vinsight-frontend"]

    pager = clients.revisions.list_revisions(
        request=run_v2.ListRevisionsRequest(parent=BACKEND, page_size=2), retry=None, timeout=5
    )
    pages = list(pager.pages)
    assert [len(p.revisions) for p in pages] == [2, 1]
    names = [short(r.name) for p in pages for r in p.revisions]
    assert names == sorted(names, reverse=True)  # newest first


def test_revisions_fields(clients):
    revisions = revisions_of(clients)
    assert len(revisions) == 3
    newest = revisions[0]
    assert newest.service == BACKEND
    assert newest.containers[0].image.startswith("us-central1-docker.pkg.dev/vinsight/app/backend:")
    assert dict(newest.containers[0].resources.limits) == {"cpu": "1", "memory": "512Mi"}
    assert newest.scaling.max_instance_count == 100
    kinds = {c.type_: c.state for c in newest.conditions}
    assert kinds["Ready"] == kinds["ContainerHealthy"] == run_v2.Condition.State.CONDITION_SUCCEEDED
    assert newest.create_time > revisions[1].create_time > revisions[2].create_time
    again = clients.revisions.get_revision(name=newest.name, retry=None, timeout=5)
    assert again.name == newest.name and again.uid == newest.uid


def test_update_traffic_through_the_operation(clients, emu, manual_clock):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    stable = next(t.revision for t in service.traffic if t.percent == 100)
    candidate = next(t.revision for t in service.traffic if t.tag == "candidate")
    request = split_request(service, (stable, 90, ""), (candidate, 10, "candidate"))
    request.service.annotations["vinconsole.dev/rollout"] = '{"step": 10}'

    operation = clients.services.update_service(request=request, retry=None, timeout=5)
    assert operation.operation.name.startswith(PROD + "/operations/")
    assert not operation.operation.done
    during = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert during.reconciling and during.etag != service.etag
    assert during.generation == service.generation + 1 and during.observed_generation == service.generation
    assert served(during) == {stable: 100}  # not served yet

    # As on Cloud Run, the operation returns once the change is accepted; it is served after the
    # reconciliation delay (clock time), whoever asks.
    result = operation.result(timeout=10)
    assert isinstance(result, run_v2.Service)
    assert served(result) == {stable: 100} and result.reconciling
    assert result.observed_generation == result.generation - 1

    manual_clock.advance(emu.fleet.reconcile_seconds)
    after = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert served(after) == {stable: 90, candidate: 10}
    assert not after.reconciling and after.observed_generation == after.generation
    tag = next(s for s in after.traffic_statuses if s.tag == "candidate")
    assert tag.revision == candidate and tag.uri
    assert after.annotations["vinconsole.dev/rollout"] == '{"step": 10}'


def test_stale_etag_is_aborted(clients):
    first = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    stable = next(t.revision for t in first.traffic if t.percent == 100)
    candidate = next(t.revision for t in first.traffic if t.tag == "candidate")
    clients.services.update_service(
        request=split_request(first, (stable, 50, ""), (candidate, 50, "candidate")), retry=None, timeout=5
    ).result(timeout=10)
    stale = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    stale.etag = first.etag
    with pytest.raises(exceptions.Aborted, match="etag"):
        clients.services.update_service(
            request=split_request(stale, (stable, 100, ""), (candidate, 0, "candidate")), retry=None, timeout=5
        )


def test_reserved_annotation_is_refused(clients):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    service.annotations["run.googleapis.com/ingress"] = "all"
    with pytest.raises(exceptions.InvalidArgument, match="reserved"):
        clients.services.update_service(service=service, retry=None, timeout=5)


@pytest.mark.parametrize(
    ("percents", "error", "match"),
    [
        ((80, 10), exceptions.InvalidArgument, "sum to 90"),
        ((101, 0), exceptions.InvalidArgument, "0..100"),
    ],
)
def test_bad_percents_are_refused(clients, percents, error, match):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    stable = next(t.revision for t in service.traffic if t.percent == 100)
    candidate = next(t.revision for t in service.traffic if t.tag == "candidate")
    with pytest.raises(error, match=match):
        clients.services.update_service(
            request=split_request(service, (stable, percents[0], ""), (candidate, percents[1], "candidate")),
            retry=None,
            timeout=5,
        )


def test_bad_revisions_and_tags_are_refused(clients):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    stable = next(t.revision for t in service.traffic if t.percent == 100)
    with pytest.raises(exceptions.NotFound, match="vinsight-backend-99999-zzz"):
        clients.services.update_service(
            request=split_request(service, (stable, 90, ""), ("vinsight-backend-99999-zzz", 10, "")), retry=None
        )
    with pytest.raises(exceptions.InvalidArgument, match="more than once"):
        clients.services.update_service(
            request=split_request(service, (stable, 100, "a"), (stable, 0, "a")), retry=None
        )
    with pytest.raises(exceptions.InvalidArgument, match="not a valid tag"):
        clients.services.update_service(request=split_request(service, (stable, 100, "Not_A_Label")), retry=None)
    unchanged = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert unchanged.etag == service.etag and served(unchanged) == served(service)


def test_new_image_makes_a_revision_that_becomes_ready(clients, emu, manual_clock):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    stable = next(t.revision for t in service.traffic if t.percent == 100)
    old_latest = service.latest_created_revision
    service.template.containers[0].image = "us-central1-docker.pkg.dev/vinsight/app/backend:v9.9.9"
    service.template.containers[0].resources.limits["memory"] = "1Gi"
    request = split_request(service, (stable, 100, ""), (None, 0, "latest"))
    result = clients.services.update_service(request=request, retry=None, timeout=5).result(timeout=10)

    assert result.latest_created_revision != old_latest
    assert result.latest_ready_revision == old_latest  # not ready yet
    assert served(result) == {stable: 100}
    new = clients.revisions.get_revision(name=result.latest_created_revision, retry=None, timeout=5)
    assert new.containers[0].image.endswith(":v9.9.9")
    assert new.containers[0].resources.limits["memory"] == "1Gi"
    ready = next(c for c in new.conditions if c.type_ == "Ready")
    assert ready.state != run_v2.Condition.State.CONDITION_SUCCEEDED
    assert short(new.name).startswith("vinsight-backend-")

    with pytest.raises(exceptions.FailedPrecondition, match="not ready"):
        clients.services.update_service(
            request=split_request(result, (stable, 90, ""), (short(new.name), 10, "")), retry=None
        )

    manual_clock.advance(REVISION_READY_SECONDS + 1)
    new = clients.revisions.get_revision(name=new.name, retry=None, timeout=5)
    assert next(c for c in new.conditions if c.type_ == "Ready").state == run_v2.Condition.State.CONDITION_SUCCEEDED
    after = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert after.latest_ready_revision == new.name
    latest_tag = next(s for s in after.traffic_statuses if s.tag == "latest")
    assert latest_tag.revision == short(new.name) and latest_tag.uri


def test_empty_traffic_means_latest_ready(clients, emu, manual_clock):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    service.traffic = []
    clients.services.update_service(service=service, retry=None, timeout=5).result(timeout=10)
    manual_clock.advance(emu.fleet.reconcile_seconds)
    result = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert served(result) == {short(result.latest_ready_revision): 100}
    assert [t.type_ for t in result.traffic] == [LATEST_TYPE]
    changes = emu.fleet.find("vinsight-prod", "us-central1", "vinsight-backend").split_changes()
    assert changes[-1][1] == {short(result.latest_ready_revision): 100}


def test_operation_finishes_with_clock_time(clients, emu, manual_clock):
    from google.longrunning import operations_pb2

    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    operation = clients.services.update_service(service=service, retry=None, timeout=5)
    ops = clients.services.transport.operations_client
    assert not ops.get_operation(operation.operation.name, retry=None).done
    manual_clock.advance(5)
    fetched = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    assert not fetched.reconciling
    done = ops.get_operation(operation.operation.name, retry=None)
    assert isinstance(done, operations_pb2.Operation) and done.done
    assert done.response.type_url == "type.googleapis.com/google.cloud.run.v2.Service"
    with pytest.raises(exceptions.NotFound):
        ops.get_operation(f"{PROD}/operations/unknown", retry=None)


def test_wait_operation_and_validate_only(clients, emu):
    import grpc
    from google.longrunning import operations_pb2, operations_pb2_grpc
    from google.protobuf import duration_pb2

    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    checked = clients.services.update_service(
        request=run_v2.UpdateServiceRequest(service=service, validate_only=True), retry=None, timeout=5
    )
    assert checked.done()
    assert clients.services.get_service(name=BACKEND, retry=None, timeout=5).etag == service.etag

    operation = clients.services.update_service(service=service, retry=None, timeout=5)
    with grpc.insecure_channel(emu.address) as channel:
        stub = operations_pb2_grpc.OperationsStub(channel)
        waited = stub.WaitOperation(
            operations_pb2.WaitOperationRequest(name=operation.operation.name, timeout=duration_pb2.Duration(seconds=5)),
            timeout=10,
        )
    assert waited.done and waited.response.type_url.endswith("google.cloud.run.v2.Service")


def test_a_template_naming_an_existing_revision_must_match_it(clients, emu, manual_clock):
    """Cloud Run's 409 on a resent template (googleapis/google-cloud-python#11870, #14259)."""
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    named = run_v2.RevisionTemplate(
        revision="vinsight-backend-named",
        containers=[run_v2.Container(image="us-docker.pkg.dev/vinsight/app/backend:v3.0.0")],
    )
    mask = {"paths": ["template"]}
    first = run_v2.UpdateServiceRequest(service=run_v2.Service(name=BACKEND, template=named), update_mask=mask)
    clients.services.update_service(request=first, retry=None, timeout=5).result(timeout=10)
    count = len(revisions_of(clients))
    # the same template again: no new revision, no error
    clients.services.update_service(request=first, retry=None, timeout=5).result(timeout=10)
    assert len(revisions_of(clients)) == count
    # the same name with another image, or the template as read back (server defaults filled in): 409
    other = run_v2.RevisionTemplate.deserialize(run_v2.RevisionTemplate.serialize(named))
    other.containers[0].image = "us-docker.pkg.dev/vinsight/app/backend:v3.0.1"
    for template in (other, clients.services.get_service(name=BACKEND, retry=None, timeout=5).template):
        assert template.revision == "vinsight-backend-named"
        request = run_v2.UpdateServiceRequest(service=run_v2.Service(name=BACKEND, template=template), update_mask=mask)
        with pytest.raises(exceptions.AlreadyExists, match="Revision named 'vinsight-backend-named' with different configuration already exists"):
            clients.services.update_service(request=request, retry=None, timeout=5)
    assert len(revisions_of(clients)) == count and service.etag


def test_a_held_operation_outlives_the_clients_wait(clients, emu, manual_clock):
    import concurrent.futures

    emu.hold_operations(600)
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    operation = clients.services.update_service(service=service, retry=None, timeout=5)
    with pytest.raises(concurrent.futures.TimeoutError):
        operation.result(timeout=0.5)
    manual_clock.advance(601)
    assert isinstance(operation.result(timeout=10), run_v2.Service)


def test_a_tag_too_long_for_its_service_is_refused(clients):
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    stable = next(t.revision for t in service.traffic if t.percent == 100)
    fits = "t" * (46 - len("vinsight-backend"))
    clients.services.update_service(request=split_request(service, (stable, 100, fits)), retry=None).result(timeout=10)
    service = clients.services.get_service(name=BACKEND, retry=None, timeout=5)
    with pytest.raises(exceptions.InvalidArgument, match="at most 46 characters"):
        clients.services.update_service(request=split_request(service, (stable, 100, fits + "x")), retry=None)
