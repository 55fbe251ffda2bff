"""Cloud Run Admin API v2 (Services, Revisions) and google.longrunning.Operations over gRPC.

Faithful where the console relies on the API: resource names, pagination, long-running
UpdateService operations, etag conflicts, traffic validation, reserved annotation prefixes,
and new revisions when the template's image or limits change.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.api import launch_stage_pb2
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2, timestamp_pb2

from console.emulator.fleet import (
    LATEST,
    REVISION,
    Fleet,
    PendingUpdate,
    SimRevision,
    SimService,
    TrafficEntry,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
)

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.http import HttpFront

RESERVED_ANNOTATION_PREFIXES = (
    "run.googleapis.com/",
    "serving.knative.dev/",
    "autoscaling.knative.dev/",
    "cloud.googleapis.com/",
)
SERVICE_TYPE_URL = "type.googleapis.com/google.cloud.run.v2.Service"
DEFAULT_PAGE_SIZE = 100
MAX_TAG_PLUS_SERVICE = 46  # a tag's URL is TAG---SERVICE-…: Cloud Run caps the two together
MAX_PAGE_SIZE = 1000
TAG_RE = re.compile(r"^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$")
PARENT_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")
SERVICE_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/services/([^/]+)$")
REVISION_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/services/([^/]+)/revisions/([^/]+)$")
# Cloud Run records the authenticated caller as `creator`/`last_modifier`. The emulator takes no
# credentials: a caller names itself in this request metadata (tests playing an operator do).
PRINCIPAL_METADATA = "x-emulator-principal"
DEFAULT_PRINCIPAL = "unknown-caller@emulator.local"
OPERATION_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/operations/([^/]+)$")

_ALLOCATION = run_v2.TrafficTargetAllocationType
_STATE = run_v2.Condition.State


class Abort(Exception):
    """A gRPC error to return: raised by the validation code, turned into context.abort."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _ts(t: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(round(t * 1e9)))
    return stamp


@dataclass
class _Operation:
    name: str
    service: SimService
    generation: int
    created: float
    polls: int = 0
    done: bool = False
    response: bytes = b""
    held_until: float = 0.0  # clock time before which the operation stays running (hold_operations)


class RunApi:
    """The state and handlers of the Cloud Run Admin API and its operations."""

    def __init__(self, fleet: Fleet, http: HttpFront | None = None, *, polls_until_done: int = 2):
        self.fleet = fleet
        self.http = http
        self.polls_until_done = polls_until_done
        self._operations: dict[str, _Operation] = {}
        self._op_lock = threading.Lock()
        # Operations started while this is set stay running for that many clock seconds, past a
        # client's wait (its .result() raises concurrent.futures.TimeoutError); the update itself
        # reconciles as usual.
        self.hold_operations_seconds = 0.0
        self._named = _NamedRevisions()
        self._caller = threading.local()

    # ---------------------------------------------------------------- registration
    def handlers(self) -> list[grpc.GenericRpcHandler]:
        def unary(fn: Any, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                self._guard(fn),
                request_deserializer=request_type.deserialize,
                response_serializer=response_type.serialize,
            )

        def unary_pb(fn: Any, request_type: Any, response_type: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                self._guard(fn),
                request_deserializer=request_type.FromString,
                response_serializer=response_type.SerializeToString,
            )

        operation = operations_pb2.Operation
        return [
            grpc.method_handlers_generic_handler(
                "google.cloud.run.v2.Services",
                {
                    "GetService": unary(self.get_service, run_v2.GetServiceRequest, run_v2.Service),
                    "ListServices": unary(self.list_services, run_v2.ListServicesRequest, run_v2.ListServicesResponse),
                    "UpdateService": grpc.unary_unary_rpc_method_handler(
                        self._guard(self.update_service),
                        request_deserializer=run_v2.UpdateServiceRequest.deserialize,
                        response_serializer=operation.SerializeToString,
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                "google.cloud.run.v2.Revisions",
                {
                    "GetRevision": unary(self.get_revision, run_v2.GetRevisionRequest, run_v2.Revision),
                    "ListRevisions": unary(
                        self.list_revisions, run_v2.ListRevisionsRequest, run_v2.ListRevisionsResponse
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                "google.longrunning.Operations",
                {
                    "GetOperation": unary_pb(self.get_operation, operations_pb2.GetOperationRequest, operation),
                    "WaitOperation": unary_pb(self.wait_operation, operations_pb2.WaitOperationRequest, operation),
                },
            ),
        ]

    def _guard(self, fn: Any) -> Any:
        def handler(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            self._caller.principal = metadata.get(PRINCIPAL_METADATA, "") or DEFAULT_PRINCIPAL
            try:
                return fn(request)
            except Abort as exc:
                context.abort(exc.code, exc.message)

        handler.__name__ = getattr(fn, "__name__", "handler")
        return handler

    # ---------------------------------------------------------------- lookups
    def _project_known(self, project: str) -> None:
        if project not in self.fleet.projects():
            raise Abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission denied on resource project {project} (or it may not exist).",
            )

    def _service_by_name(self, name: str) -> SimService:
        match = SERVICE_RE.match(name)
        if not match:
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Invalid service name {name!r}: expected projects/PROJECT/locations/LOCATION/services/SERVICE",
            )
        project, region, service = match.groups()
        self._project_known(project)
        svc = self.fleet.find(project, region, service)
        if svc is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"Resource '{service}' of kind 'SERVICE' in region '{region}' "
                        f"in project '{project}' does not exist.")
        return svc

    @staticmethod
    def _page(items: list, page_size: int, page_token: str) -> tuple[list, str]:
        offset = 0
        if page_token:
            try:
                decoded = base64.urlsafe_b64decode(page_token.encode()).decode()
                if not decoded.startswith("offset:"):
                    raise ValueError(decoded)
                offset = int(decoded.removeprefix("offset:"))
            except ValueError:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid page_token {page_token!r}") from None
        if page_size < 0:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size must not be negative, not {page_size}")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        page = items[offset : offset + size]
        following = offset + size
        token = base64.urlsafe_b64encode(f"offset:{following}".encode()).decode() if following < len(items) else ""
        return page, token

    # ---------------------------------------------------------------- building protos
    def service_proto(self, svc: SimService) -> run_v2.Service:
        with self.fleet.lock:
            limits = {"cpu": format_cpu(svc.cpu), "memory": format_memory(svc.memory_gib)}
            container = run_v2.Container(
                image=svc.image,
                resources=run_v2.ResourceRequirements(limits=limits, cpu_idle=True, startup_cpu_boost=True),
                ports=[run_v2.ContainerPort(name="http1", container_port=8080)],
            )
            template = run_v2.RevisionTemplate(
                scaling=run_v2.RevisionScaling(min_instance_count=0, max_instance_count=100),
                containers=[container],
                max_instance_request_concurrency=80,
                service_account=f"vinsight-run@{svc.project}.iam.gserviceaccount.com",
                revision=self._named.template_revision(svc),
            )
            traffic = [
                run_v2.TrafficTarget(
                    type_=_ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
                    if e.type == LATEST
                    else _ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                    revision=e.revision if e.type == REVISION else "",
                    percent=e.percent,
                    tag=e.tag,
                )
                for e in svc.traffic
            ]
            statuses = []
            for e in svc.served:
                uri = ""
                if e.tag and self.http is not None and e.revision in svc.revisions:
                    uri = self.http.revision_url(svc.revisions[e.revision])
                statuses.append(
                    run_v2.TrafficTargetStatus(
                        type_=_ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
                        if e.type == LATEST
                        else _ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                        revision=e.revision,
                        percent=e.percent,
                        tag=e.tag,
                        uri=uri,
                    )
                )
            reconciling = svc.reconciling
            ready = run_v2.Condition(
                type_="Ready",
                state=_STATE.CONDITION_RECONCILING if reconciling else _STATE.CONDITION_SUCCEEDED,
                last_transition_time=_ts(svc.update_time),
            )
            conditions = [
                run_v2.Condition(
                    type_=kind,
                    state=_STATE.CONDITION_RECONCILING if reconciling else _STATE.CONDITION_SUCCEEDED,
                    last_transition_time=_ts(svc.update_time),
                    severity=run_v2.Condition.Severity.INFO,
                )
                for kind in ("RoutesReady", "ConfigurationsReady")
            ]
            uri = self.http.service_url(svc) if self.http is not None else ""
            return run_v2.Service(
                name=svc.resource_name,
                uid=svc.uid,
                generation=svc.generation,
                labels=dict(svc.labels),
                annotations=dict(svc.annotations),
                create_time=_ts(svc.create_time),
                update_time=_ts(svc.update_time),
                creator=svc.creator,
                last_modifier=svc.last_modifier,
                ingress=run_v2.IngressTraffic.INGRESS_TRAFFIC_ALL,
                launch_stage=launch_stage_pb2.GA,
                template=template,
                traffic=traffic,
                observed_generation=svc.observed_generation,
                terminal_condition=ready,
                conditions=conditions,
                latest_ready_revision=svc.revision_resource(svc.latest_ready) if svc.latest_ready else "",
                latest_created_revision=svc.revision_resource(svc.latest_created) if svc.latest_created else "",
                traffic_statuses=statuses,
                uri=uri,
                urls=[uri] if uri else [],
                reconciling=reconciling,
                etag=svc.etag,
            )

    def revision_proto(self, rev: SimRevision) -> run_v2.Revision:
        with self.fleet.lock:
            svc = rev.service
            now = self.fleet.clock.now()
            behavior = rev.behavior_at(now)
            limits = {"cpu": format_cpu(rev.cpu), "memory": format_memory(rev.memory_gib)}
            ready_time = rev.create_time if rev.ready_at is None else rev.ready_at
            if rev.ready:
                ready = run_v2.Condition(
                    type_="Ready", state=_STATE.CONDITION_SUCCEEDED, last_transition_time=_ts(ready_time)
                )
            else:
                ready = run_v2.Condition(
                    type_="Ready",
                    state=_STATE.CONDITION_RECONCILING,
                    message="Deploying revision: waiting for the container to become healthy.",
                    last_transition_time=_ts(rev.create_time),
                    revision_reason=run_v2.Condition.RevisionReason.PENDING,
                )
            if behavior.crash_looping:
                restarts = max(1, int((now - rev.create_time) / 40.0))
                healthy = run_v2.Condition(
                    type_="ContainerHealthy",
                    state=_STATE.CONDITION_FAILED,
                    severity=run_v2.Condition.Severity.ERROR,
                    message=(
                        f"Container failed to start and listen on port 8080: restarted {restarts} times. "
                        f"Logs for this revision might contain more information."
                    ),
                    last_transition_time=_ts(rev.create_time + 40.0),
                    revision_reason=run_v2.Condition.RevisionReason.HEALTH_CHECK_CONTAINER_ERROR,
                )
            else:
                healthy = run_v2.Condition(
                    type_="ContainerHealthy",
                    state=_STATE.CONDITION_SUCCEEDED if rev.ready else _STATE.CONDITION_RECONCILING,
                    last_transition_time=_ts(ready_time),
                )
            resources = run_v2.Condition(
                type_="ResourcesAvailable",
                state=_STATE.CONDITION_SUCCEEDED if rev.ready else _STATE.CONDITION_RECONCILING,
                last_transition_time=_ts(ready_time),
            )
            log_uri = (
                f"https://console.cloud.google.com/logs/viewer?project={svc.project}"
                f"&resource=cloud_run_revision/service_name/{svc.name}/revision_name/{rev.name}"
            )
            return run_v2.Revision(
                name=svc.revision_resource(rev.name),
                uid=rev.uid,
                generation=1,
                labels={
                    "serving.knative.dev/service": svc.name,
                    "serving.knative.dev/configuration": svc.name,
                },
                annotations={"autoscaling.knative.dev/maxScale": str(rev.max_instances)},
                create_time=_ts(rev.create_time),
                update_time=_ts(ready_time),
                launch_stage=launch_stage_pb2.GA,
                service=svc.resource_name,
                scaling=run_v2.RevisionScaling(
                    min_instance_count=rev.min_instances, max_instance_count=rev.max_instances
                ),
                max_instance_request_concurrency=80,
                service_account=f"vinsight-run@{svc.project}.iam.gserviceaccount.com",
                containers=[
                    run_v2.Container(
                        image=rev.image,
                        resources=run_v2.ResourceRequirements(limits=limits, cpu_idle=True, startup_cpu_boost=True),
                        ports=[run_v2.ContainerPort(name="http1", container_port=8080)],
                    )
                ],
                reconciling=not rev.ready,
                conditions=[ready, healthy, resources, *self._informational_conditions(rev)],
                observed_generation=1,
                log_uri=log_uri,
                etag=rev.etag,
            )

    @staticmethod
    def _informational_conditions(rev: SimRevision) -> list[run_v2.Condition]:
        """What Cloud Run reports on a healthy revision that serves nothing: `Active` not succeeded,
        with an informational reason (RESERVE) and severity INFO. It does not affect readiness."""
        if not rev.ready or rev.service.served_percents().get(rev.name):
            return []
        return [run_v2.Condition(
            type_="Active",
            state=_STATE.CONDITION_FAILED,
            severity=run_v2.Condition.Severity.INFO,
            revision_reason=run_v2.Condition.RevisionReason.RESERVE,
            message="Revision is in reserve: it serves no traffic and has scaled to zero.",
            last_transition_time=_ts(rev.ready_at or rev.create_time),
        )]

    # ---------------------------------------------------------------- Services
    def get_service(self, request: run_v2.GetServiceRequest) -> run_v2.Service:
        with self.fleet.lock:
            return self.service_proto(self._service_by_name(request.name))

    def list_services(self, request: run_v2.ListServicesRequest) -> run_v2.ListServicesResponse:
        match = PARENT_RE.match(request.parent)
        if not match:
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Invalid parent {request.parent!r}: expected projects/PROJECT/locations/LOCATION",
            )
        project, region = match.groups()
        if region == "-":
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "The location '-' (all locations) is not supported for this method; list services per region.",
            )
        self._project_known(project)
        with self.fleet.lock:
            services = sorted(
                (s for s in self.fleet.services() if s.project == project and s.region == region),
                key=lambda s: s.name,
            )
            page, token = self._page(services, request.page_size, request.page_token)
            return run_v2.ListServicesResponse(services=[self.service_proto(s) for s in page], next_page_token=token)

    def update_service(self, request: run_v2.UpdateServiceRequest) -> operations_pb2.Operation:
        body = request.service
        with self.fleet.lock:
            svc = self._service_by_name(body.name)
            if body.etag and body.etag != svc.etag:
                raise Abort(grpc.StatusCode.ABORTED, "etag mismatch: the service was modified; re-read it")
            mask = set(request.update_mask.paths) if request.update_mask and request.update_mask.paths else None

            def wanted(field: str) -> bool:
                return mask is None or field in mask or any(p.startswith(field + ".") for p in mask)

            annotations = self._checked_annotations(svc, body) if wanted("annotations") else None
            labels = dict(body.labels) if wanted("labels") else None
            change = self._template_change(svc, body) if wanted("template") else None
            traffic = self._checked_traffic(svc, body) if wanted("traffic") else None

            if request.validate_only:
                operation = operations_pb2.Operation(name=self._operation_name(svc), done=True)
                operation.response.CopyFrom(self._pack(self.service_proto(svc)))
                return operation

            now = self.fleet.clock.now()
            if change is not None:
                image, cpu, memory, revision_name = change
                self._named.created(svc, body.template, revision_name)
                self.fleet.add_revision(
                    svc,
                    now,
                    self.fleet.candidate_behavior(svc),
                    ready=False,
                    image=image,
                    cpu=cpu,
                    memory_gib=memory,
                    name=revision_name or None,
                )
            if annotations is not None:
                svc.annotations = annotations
            if labels is not None:
                svc.labels = labels
            if traffic is not None:
                svc.traffic = traffic
            svc.generation += 1
            svc.etag = self.fleet.new_etag()
            svc.update_time = now
            svc.last_modifier = getattr(self._caller, "principal", DEFAULT_PRINCIPAL)
            svc.pending.append(
                PendingUpdate(
                    svc.generation, now + self.fleet.reconcile_seconds, [TrafficEntry(**vars(e)) for e in svc.traffic]
                )
            )
            if self.fleet.reconcile_seconds <= 0:
                self.fleet.complete(svc, svc.generation)
            op = _Operation(self._operation_name(svc), svc, svc.generation, now, held_until=now + self.hold_operations_seconds)
            with self._op_lock:
                self._operations[op.name] = op
            return self._operation_proto(op)

    def _checked_annotations(self, svc: SimService, body: run_v2.Service) -> dict[str, str]:
        requested = dict(body.annotations)
        for key, value in sorted(requested.items()):
            if key.startswith(RESERVED_ANNOTATION_PREFIXES) and svc.annotations.get(key) != value:
                raise Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"Annotation '{key}' is not supported: annotations under "
                    f"{', '.join(RESERVED_ANNOTATION_PREFIXES)} are reserved by Cloud Run.",
                )
        # System annotations the request left out stay.
        for key, value in svc.annotations.items():
            if key.startswith(RESERVED_ANNOTATION_PREFIXES) and key not in requested:
                requested[key] = value
        return requested

    def _template_change(self, svc: SimService, body: run_v2.Service) -> tuple[str, float, float, str] | None:
        """(image, cpu, memory GiB, revision name) when the template asks for a new revision."""
        template = body.template
        if not template or not template.containers:
            return None
        if template.revision in svc.revisions:
            self._named.check_same(svc, template)
            return None  # the revision it names, unchanged: no new revision
        container = template.containers[0]
        image = container.image or svc.image
        limits = dict(container.resources.limits) if container.resources else {}
        try:
            cpu = parse_cpu(limits["cpu"]) if "cpu" in limits else svc.cpu
            memory = parse_memory(limits["memory"]) if "memory" in limits else svc.memory_gib
        except ValueError as exc:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"template.containers[0].resources.limits: {exc}") from None
        if cpu <= 0 or memory <= 0:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "template.containers[0].resources.limits must be positive")
        if (image, cpu, memory) == (svc.image, svc.cpu, svc.memory_gib):
            return None
        name = template.revision
        if name:
            if not name.startswith(svc.name + "-"):
                raise Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"template.revision {name!r} must start with the service name followed by '-'",
                )
            if name in svc.revisions:
                raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"Revision '{name}' already exists.")
        return image, cpu, memory, name

    def _checked_traffic(self, svc: SimService, body: run_v2.Service) -> list[TrafficEntry]:
        entries: list[TrafficEntry] = []
        tags: set[str] = set()
        for index, target in enumerate(body.traffic):
            where = f"spec.traffic[{index}]"
            # int: proto-plus enums are IntEnums at run time, but untyped, so mypy sees their members as ints
            kind: int = target.type_
            if kind == _ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED:
                kind = (
                    _ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
                    if target.revision
                    else _ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
                )
            if kind == _ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST and target.revision:
                raise Abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{where}: a LATEST traffic target must not name a revision ({target.revision!r})",
                )
            if not 0 <= target.percent <= 100:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"{where}.percent must be within 0..100, not {target.percent}")
            if target.tag:
                if not TAG_RE.match(target.tag):
                    raise Abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"{where}.tag {target.tag!r} is not a valid tag: lowercase letters, digits and '-', "
                        "starting with a letter, at most 46 characters",
                    )
                if len(target.tag) + len(svc.name) > MAX_TAG_PLUS_SERVICE:
                    raise Abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"{where}.tag {target.tag!r} is too long for service {svc.name!r}: the tag and the service "
                        f"name together must be at most {MAX_TAG_PLUS_SERVICE} characters",
                    )
                if target.tag in tags:
                    raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"{where}.tag {target.tag!r} is used more than once")
                tags.add(target.tag)
            if kind == _ALLOCATION.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION:
                rev = svc.revisions.get(target.revision)
                if rev is None:
                    raise Abort(
                        grpc.StatusCode.NOT_FOUND,
                        f"{where}: Revision '{target.revision}' of service '{svc.name}' does not exist.",
                    )
                if target.percent > 0 and not rev.ready:
                    raise Abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"{where}: Revision '{target.revision}' is not ready and cannot serve traffic.",
                    )
                entries.append(TrafficEntry(REVISION, target.revision, target.percent, target.tag))
            else:
                entries.append(TrafficEntry(LATEST, "", target.percent, target.tag))
        total = sum(e.percent for e in entries)
        if entries and total != 100:
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"spec.traffic: the traffic percents sum to {total}; they must sum to 100.",
            )
        if not entries:
            entries = [TrafficEntry(LATEST, "", 100, "")]
        if any(e.type == LATEST and e.percent > 0 for e in entries) and not svc.latest_ready:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "spec.traffic: the service has no ready revision yet")
        return entries

    # ---------------------------------------------------------------- Revisions
    def get_revision(self, request: run_v2.GetRevisionRequest) -> run_v2.Revision:
        match = REVISION_RE.match(request.name)
        if not match:
            raise Abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Invalid revision name {request.name!r}: expected "
                "projects/PROJECT/locations/LOCATION/services/SERVICE/revisions/REVISION",
            )
        project, region, service, revision = match.groups()
        with self.fleet.lock:
            svc = self._service_by_name(f"projects/{project}/locations/{region}/services/{service}")
            rev = svc.revisions.get(revision)
            if rev is None:
                raise Abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"Resource '{revision}' of kind 'REVISION' in region '{region}' in project '{project}' does not exist.",
                )
            return self.revision_proto(rev)

    def list_revisions(self, request: run_v2.ListRevisionsRequest) -> run_v2.ListRevisionsResponse:
        with self.fleet.lock:
            svc = self._service_by_name(request.parent)
            revisions = sorted(svc.revisions.values(), key=lambda r: (r.number, r.create_time), reverse=True)
            page, token = self._page(revisions, request.page_size, request.page_token)
            return run_v2.ListRevisionsResponse(
                revisions=[self.revision_proto(r) for r in page], next_page_token=token
            )

    # ---------------------------------------------------------------- Operations
    def _operation_name(self, svc: SimService) -> str:
        return f"projects/{svc.project}/locations/{svc.region}/operations/{uuid.uuid4()}"

    @staticmethod
    def _pack(service: run_v2.Service) -> any_pb2.Any:
        return any_pb2.Any(type_url=SERVICE_TYPE_URL, value=run_v2.Service.serialize(service))

    def _operation_proto(self, op: _Operation) -> operations_pb2.Operation:
        proto = operations_pb2.Operation(name=op.name, done=op.done)
        if op.done:
            proto.response.ParseFromString(op.response)
        return proto

    def _settle(self, op: _Operation, force: bool) -> None:
        """Mark `op` done once it has been polled enough (or `force`), freezing its response; a held
        operation (`hold_operations_seconds`) stays running until then.

        Done means accepted, not served: as on Cloud Run, the service may still be reconciling
        (`traffic_statuses` lag `traffic`) when the operation returns; it serves the change once
        the fleet's reconciliation delay has passed, whoever polls.
        """
        if op.done or self.fleet.clock.now() < op.held_until:
            return
        with self.fleet.lock:
            self.fleet.refresh()
            svc = op.service
            if svc.observed_generation < op.generation and not force:
                return
            op.response = self._pack(self.service_proto(svc)).SerializeToString()
            op.done = True

    def _operation(self, name: str) -> _Operation:
        if not OPERATION_RE.match(name):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid operation name {name!r}")
        with self._op_lock:
            op = self._operations.get(name)
        if op is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f"Operation {name!r} not found.")
        return op

    def get_operation(self, request: operations_pb2.GetOperationRequest) -> operations_pb2.Operation:
        op = self._operation(request.name)
        with self._op_lock:
            op.polls += 1
            polls = op.polls
        self._settle(op, force=polls >= self.polls_until_done)
        return self._operation_proto(op)

    def wait_operation(self, request: operations_pb2.WaitOperationRequest) -> operations_pb2.Operation:
        op = self._operation(request.name)
        timeout = request.timeout.ToTimedelta().total_seconds() if request.HasField("timeout") else 30.0
        if self.fleet.clock.now() < op.held_until:
            time.sleep(min(timeout, 5.0, self.fleet.clock.real_seconds(op.held_until - self.fleet.clock.now())))
        remaining = max(0.0, self.fleet.reconcile_seconds - (self.fleet.clock.now() - op.created))
        wait = min(self.fleet.clock.real_seconds(remaining), timeout, 5.0)
        if wait > 0:
            time.sleep(wait)
        self._settle(op, force=True)
        return self._operation_proto(op)


class _NamedRevisions:
    """Which revision each service's template names, and the template each named revision was made from.

    Cloud Run keeps `template.revision` on the service after a deploy that named its revision
    (`gcloud run deploy --revision-suffix`, Terraform). A later write whose template names an
    existing revision must carry that revision's configuration exactly; anything else, including
    the template as read back with the server's defaults filled in, is refused with 409 ALREADY_EXISTS
    "Revision named '…' with different configuration already exists" (googleapis/google-cloud-python
    #11870, #14259; terraform-provider-google #9438, #13410).
    """

    def __init__(self) -> None:
        self._template_revision: dict[str, str] = {}  # service resource name → revision short name
        self._specs: dict[tuple[str, str], bytes] = {}  # (service, revision) → the template as sent

    @staticmethod
    def _canonical(template: run_v2.RevisionTemplate) -> bytes:
        unnamed = run_v2.RevisionTemplate.deserialize(run_v2.RevisionTemplate.serialize(template))
        unnamed.revision = ""
        return run_v2.RevisionTemplate.pb(unnamed).SerializeToString(deterministic=True)

    def template_revision(self, svc: SimService) -> str:
        return self._template_revision.get(svc.resource_name, "")

    def created(self, svc: SimService, template: run_v2.RevisionTemplate, revision_name: str) -> None:
        """A write made a new revision: named (its template is remembered) or not (the template names none)."""
        if revision_name:
            self._template_revision[svc.resource_name] = revision_name
            self._specs[(svc.resource_name, revision_name)] = self._canonical(template)
        else:
            self._template_revision.pop(svc.resource_name, None)

    def check_same(self, svc: SimService, template: run_v2.RevisionTemplate) -> None:
        """Refuse a template naming an existing revision with another configuration than it was made from."""
        name = template.revision
        spec = self._specs.get((svc.resource_name, name))
        if spec is None:
            rev = svc.revisions[name]
            spec = self._canonical(run_v2.RevisionTemplate(
                revision=name,
                containers=[run_v2.Container(
                    image=rev.image,
                    resources=run_v2.ResourceRequirements(
                        limits={"cpu": format_cpu(rev.cpu), "memory": format_memory(rev.memory_gib)}
                    ),
                )],
            ))
        if self._canonical(template) != spec:
            raise Abort(
                grpc.StatusCode.ALREADY_EXISTS,
                f"Revision named '{name}' with different configuration already exists.",
            )
