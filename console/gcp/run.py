"""Cloud Run Admin API v2: services, revisions, and the one safe way to change traffic.

A traffic write sends the etag it read, waits for the operation, then re-reads the service
and checks that what is served is what was written. Whether Cloud Run enforces the etag is
not documented, so a write also refuses to start when the service moved since the caller
read it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import Any

from console.clock import Clock
from console.errors import ConflictError, UnavailableError, UsageError, VerificationError
from console.gcp.clients import WRITE_TIMEOUT, Clients, guarded
from console.model import Revision, ServiceState, TrafficStatus, TrafficTarget, describe_split

# How long (real seconds) a write may take to be served before we call it unverified.
VERIFY_SECONDS = 30.0
# A new revision has to pull its image and start: an --image deploy's operation gets minutes.
DEPLOY_TIMEOUT = 600.0
# What a traffic write changes, and nothing else (proto field names: Cloud Run silently ignores
# a path it does not know and would then apply the sparse service as a whole).
TRAFFIC_MASK = ("traffic", "annotations")
# Sends of one UpdateService when the API is unavailable (each only after re-reading the service).
UPDATE_ATTEMPTS = 3
RESERVED_ANNOTATION_PREFIXES = (
    "run.googleapis.com/",
    "serving.knative.dev/",
    "autoscaling.knative.dev/",
    "cloud.googleapis.com/",
)


def short_name(resource_name: str) -> str:
    return resource_name.rsplit("/", 1)[-1] if resource_name else ""


def parse_cpu(value: str) -> float:
    value = (value or "").strip()
    if not value:
        return 1.0
    if value.endswith("m"):
        return float(value[:-1]) / 1000.0
    return float(value)


_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_memory_gib(value: str) -> float:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]i?|k)?\s*", value or "")
    if not match:
        return 0.5
    number, unit = float(match.group(1)), match.group(2)
    return number * _MEMORY_UNITS.get(unit or "", 1) / 2**30


def _timestamp(value: Any) -> float:
    return value.timestamp() if value else 0.0


def service_state(project: str, region: str, proto: Any) -> ServiceState:
    from google.cloud import run_v2

    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    traffic = tuple(
        TrafficTarget(
            percent=int(entry.percent),
            revision=None if entry.type_ == latest else short_name(entry.revision),
            tag=entry.tag or None,
        )
        for entry in proto.traffic
    )
    statuses = tuple(
        TrafficStatus(
            percent=int(entry.percent),
            revision=None if entry.type_ == latest and not entry.revision else short_name(entry.revision),
            tag=entry.tag or None,
            uri=entry.uri or None,
        )
        for entry in proto.traffic_statuses
    )
    return ServiceState(
        project=project,
        region=region,
        name=short_name(proto.name),
        etag=proto.etag,
        generation=int(proto.generation),
        observed_generation=int(proto.observed_generation),
        reconciling=bool(proto.reconciling),
        traffic=traffic,
        traffic_statuses=statuses,
        latest_ready_revision=short_name(proto.latest_ready_revision) or None,
        latest_created_revision=short_name(proto.latest_created_revision) or None,
        annotations=MappingProxyType(dict(proto.annotations)),
        uri=proto.uri or None,
        ready_message=proto.terminal_condition.message if proto.terminal_condition else "",
        last_modifier=proto.last_modifier or "",
        update_time=_timestamp(proto.update_time),
    )


def revision_info(proto: Any) -> Revision:
    from google.cloud import run_v2

    container = proto.containers[0] if proto.containers else None
    limits = dict(container.resources.limits) if container else {}
    failed, error = run_v2.Condition.State.CONDITION_FAILED, run_v2.Condition.Severity.ERROR
    ready_condition = next((c for c in proto.conditions if c.type_ == "Ready"), None)
    ready = ready_condition is not None and ready_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
    # Health is the Ready condition and failed conditions of severity ERROR only: a revision scaled
    # to zero or retired carries failed conditions with informational reasons (RESERVE, RETIRED, ...)
    # and severity INFO, and is perfectly healthy.
    problems = [
        c.message for c in proto.conditions
        if c.state == failed and c.message and (c.type_ == "Ready" or c.severity == error)
    ]
    return Revision(
        name=short_name(proto.name),
        service=short_name(proto.service),
        created=_timestamp(proto.create_time),
        image=container.image if container else "",
        cpu=parse_cpu(limits.get("cpu", "1")),
        memory_gib=parse_memory_gib(limits.get("memory", "512Mi")),
        ready=ready,
        ready_message="; ".join(problems),
        max_instances=proto.scaling.max_instance_count or None,
        min_instances=proto.scaling.min_instance_count or None,
    )


def check_traffic(traffic: Sequence[TrafficTarget], revisions: Mapping[str, Revision]) -> None:
    """Refuse a split that does not sum to 100 or points at a revision that is not ready."""
    total = sum(entry.percent for entry in traffic)
    if any(not 0 <= entry.percent <= 100 for entry in traffic):
        raise UsageError(f"every traffic percent must be within 0..100: {traffic}")
    if total != 100:
        raise UsageError(f"traffic must sum to 100 %, not {total} %")
    for entry in traffic:
        if entry.revision is None:
            continue
        revision = revisions.get(entry.revision)
        if revision is None:
            raise UsageError(f"revision {entry.revision} does not exist")
        if entry.percent and not revision.ready:
            reason = f" ({revision.ready_message})" if revision.ready_message else ""
            raise UsageError(f"revision {entry.revision} is not ready{reason}; it cannot take traffic")


class CloudRun:
    """Services and revisions of one Google Cloud (or emulator) endpoint."""

    def __init__(self, clients: Clients, clock: Clock | None = None, caller: str = ""):
        self.clients = clients
        # Real seconds one UpdateService operation may run before we stop waiting and re-read.
        self.operation_timeout = WRITE_TIMEOUT
        self.deploy_timeout = DEPLOY_TIMEOUT
        # what waiting for a write to be served waits on: a manual clock (tests) has to be moved
        self.clock = clock
        self.caller = caller  # who writes, named to the emulator (Google takes it from the credentials)

    def _caller_metadata(self) -> list[tuple[str, str]]:
        """On the emulator, name the caller (Cloud Run takes it from the credentials), so that
        `last_modifier` says who wrote, as it does on Google Cloud."""
        if not self.clients.emulator_host or not self.caller:
            return []
        return [("x-emulator-principal", self.caller)]

    def _service_path(self, project: str, region: str, service: str) -> str:
        return f"projects/{project}/locations/{region}/services/{service}"

    def list_services(self, project: str, region: str) -> list[ServiceState]:
        def call() -> list[ServiceState]:
            pager = self.clients.services.list_services(
                parent=f"projects/{project}/locations/{region}", retry=self.clients.retry(), timeout=self.clients.read_timeout
            )
            return [service_state(project, region, proto) for proto in pager]

        return guarded(f"ListServices({project}/{region})", call)

    def _get_raw(self, project: str, region: str, service: str) -> Any:
        name = self._service_path(project, region, service)
        return guarded(
            f"GetService({service})",
            lambda: self.clients.services.get_service(name=name, retry=self.clients.retry(), timeout=self.clients.read_timeout),
        )

    def get_service(self, project: str, region: str, service: str) -> ServiceState:
        return service_state(project, region, self._get_raw(project, region, service))

    def list_revisions(self, project: str, region: str, service: str) -> list[Revision]:
        """Revisions, newest first."""

        def call() -> list[Revision]:
            pager = self.clients.revisions.list_revisions(
                parent=self._service_path(project, region, service), retry=self.clients.retry(), timeout=self.clients.read_timeout
            )
            return sorted((revision_info(proto) for proto in pager), key=lambda r: r.created, reverse=True)

        return guarded(f"ListRevisions({service})", call)

    def write_traffic(
        self,
        state: ServiceState,
        traffic: Sequence[TrafficTarget],
        annotations: Mapping[str, str | None] | None = None,
        *,
        revisions: Mapping[str, Revision] | None = None,
        wait_served: bool = True,
    ) -> ServiceState:
        """Write `traffic` (and set/remove `annotations`, None removes) in one UpdateService call.

        `state` is what the caller decided on: if the service changed since, ConflictError.
        Returns the service as re-read after the write is served, or (`wait_served=False`, for a
        caller that waits on its own clock and checks who else wrote meanwhile) as re-read once
        the operation returned: Cloud Run may still be reconciling it then.
        """
        if revisions is None:
            revisions = {r.name: r for r in self.list_revisions(state.project, state.region, state.name)}
        check_traffic(traffic, revisions)
        for key in annotations or {}:
            if key.startswith(RESERVED_ANNOTATION_PREFIXES):
                raise UsageError(f"annotation {key} is under a prefix reserved by Cloud Run")
        raw = self._get_raw(state.project, state.region, state.name)
        if raw.etag != state.etag:
            raise ConflictError(
                f"UpdateService({state.name})",
                "ABORTED",
                f"{state.name} changed since it was read (by {raw.last_modifier or 'someone else'})",
                "re-read the service and decide again",
            )
        request = self._update_request(raw, traffic, annotations or {})
        self._send_update(state, request, traffic, annotations or {})
        if not wait_served:
            return self.get_service(state.project, state.region, state.name)
        return self.wait_until_served(state.project, state.region, state.name, traffic)

    def deploy_image(self, state: ServiceState, image: str, *, pin: Mapping[str, int]) -> ServiceState:
        """A new revision running `image`, while traffic stays pinned to `pin` (no traffic to it)."""
        raw = self._get_raw(state.project, state.region, state.name)
        if raw.etag != state.etag:
            raise ConflictError(
                f"UpdateService({state.name})", "ABORTED", f"{state.name} changed since it was read",
                "re-read the service and decide again",
            )
        pinned = [TrafficTarget(percent, revision) for revision, percent in pin.items() if percent]
        tagged = [TrafficTarget(0, entry.revision, entry.tag) for entry in state.traffic if entry.tag and entry.revision]
        request = self._deploy_request(raw, pinned + tagged, image)
        self._send_update(state, request, pinned, {}, operation_timeout=self.deploy_timeout)
        return self.get_service(state.project, state.region, state.name)

    def _update_request(self, raw: Any, traffic: Sequence[TrafficTarget], annotations: Mapping[str, str | None]) -> Any:
        """A minimal Service (name, etag, traffic, annotations) under an update mask of exactly those.

        Sending the whole service back makes Cloud Run compare its template with the revision it
        names: a template read back with server defaults filled in is "different configuration",
        and the write fails with 409 "Revision named … with different configuration already
        exists" (googleapis/google-cloud-python#11870, #14259). With the mask, every setting we do
        not send (template, ingress, scaling, invoker checks, ...) stays as it is on the server.
        """
        from google.cloud import run_v2
        from google.protobuf import field_mask_pb2

        merged = dict(raw.annotations)
        for key, value in annotations.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        service = run_v2.Service(name=raw.name, etag=raw.etag, annotations=merged, traffic=_traffic_protos(traffic))
        return run_v2.UpdateServiceRequest(service=service, update_mask=field_mask_pb2.FieldMask(paths=list(TRAFFIC_MASK)))

    @staticmethod
    def _deploy_request(raw: Any, traffic: Sequence[TrafficTarget], image: str) -> Any:
        """The template as read with `image` and no revision name (Cloud Run names the new revision),
        and the traffic pinned, under a mask of template and traffic."""
        from google.cloud import run_v2
        from google.protobuf import field_mask_pb2

        template = run_v2.RevisionTemplate.deserialize(run_v2.RevisionTemplate.serialize(raw.template))
        template.revision = ""  # naming an existing revision with a new image is a 409
        template.containers[0].image = image
        service = run_v2.Service(name=raw.name, etag=raw.etag, template=template, traffic=_traffic_protos(traffic))
        return run_v2.UpdateServiceRequest(service=service, update_mask=field_mask_pb2.FieldMask(paths=["template", "traffic"]))

    def _send_update(
        self,
        state: ServiceState,
        request: Any,
        traffic: Sequence[TrafficTarget],
        annotations: Mapping[str, str | None],
        *,
        operation_timeout: float | None = None,
    ) -> None:
        """Send once; a lost answer is resolved by re-reading, never by a blind resend.

        An operation still running when our wait ends (UnavailableError OPERATION_TIMEOUT, see
        guarded()) is resolved the same way: the re-read shows whether the write was accepted.
        """
        from google.api_core.future import polling

        call = f"UpdateService({state.name})"
        wait = self.operation_timeout if operation_timeout is None else operation_timeout
        poll = polling.DEFAULT_POLLING.with_timeout(wait).with_delay(initial=0.1, maximum=1.0, multiplier=1.5)
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                operation = guarded(
                    call, lambda: self.clients.services.update_service(
                        request=request, retry=None, timeout=WRITE_TIMEOUT, metadata=self._caller_metadata()
                    ),
                )
                guarded(call, partial(operation.result, timeout=wait, polling=poll))
                return
            except UnavailableError:
                # The write may or may not have been applied: look before deciding.
                current = self.get_service(state.project, state.region, state.name)
                if _written(current, traffic, annotations):
                    return
                if current.etag != request.service.etag or attempt == UPDATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * 2**attempt)  # same etag: nothing was applied, so sending again is safe

    def wait_until_served(
        self, project: str, region: str, service: str, traffic: Sequence[TrafficTarget]
    ) -> ServiceState:
        """Re-read until traffic_statuses show the split written; VerificationError if not in time."""
        wanted = _split_of(traffic)
        deadline = time.monotonic() + VERIFY_SECONDS
        delay = 0.05
        while True:
            current = self.get_service(project, region, service)
            served = current.served_split()
            if served == wanted and not current.reconciling:
                return current
            if time.monotonic() > deadline:
                raise VerificationError(
                    f"{service}: wrote {describe_split(wanted)} but it serves {describe_split(served)}"
                    f"{' (still reconciling)' if current.reconciling else ''}; check it with `vinconsole status`"
                )
            if self.clock is not None and self.clock.real_seconds(1.0) <= 0:
                self.clock.sleep(1.0)  # a manual clock: reconciliation happens only as it moves
            else:
                time.sleep(delay)
            delay = min(1.0, delay * 2)


def _traffic_protos(traffic: Sequence[TrafficTarget]) -> list[Any]:
    from google.cloud import run_v2

    return [
        run_v2.TrafficTarget(
            type_=(
                run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
                if entry.revision is None
                else run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
            ),
            revision=entry.revision or "",
            percent=entry.percent,
            tag=entry.tag or "",
        )
        for entry in traffic
    ]


def _split_of(traffic: Sequence[TrafficTarget]) -> dict[str, int]:
    split: dict[str, int] = {}
    for entry in traffic:
        if entry.percent and entry.revision:
            split[entry.revision] = split.get(entry.revision, 0) + entry.percent
    return split


def _written(current: ServiceState, traffic: Sequence[TrafficTarget], annotations: Mapping[str, str | None]) -> bool:
    if current.written_split() != _split_of(traffic):
        return False
    return all(current.annotations.get(key) == value for key, value in annotations.items())
