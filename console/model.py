"""What the console knows about services and revisions: plain values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class TrafficTarget:
    """One entry of a service's traffic split.

    `revision` is None when the entry means "the latest ready revision".
    """

    percent: int
    revision: str | None = None
    tag: str | None = None

    @property
    def latest(self) -> bool:
        return self.revision is None


@dataclass(frozen=True)
class TrafficStatus:
    """One entry of the traffic actually served (`traffic_statuses`)."""

    percent: int
    revision: str | None
    tag: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class Revision:
    name: str  # short name, e.g. vinsight-backend-00042-abc
    service: str
    created: float  # unix seconds
    image: str
    cpu: float  # vCPU limit
    memory_gib: float
    ready: bool
    ready_message: str = ""
    max_instances: int | None = None
    min_instances: int | None = None


@dataclass(frozen=True)
class ServiceState:
    """A Cloud Run service as read: traffic as written and as served, and our annotations."""

    project: str
    region: str
    name: str
    etag: str
    generation: int
    observed_generation: int
    reconciling: bool
    traffic: tuple[TrafficTarget, ...]
    traffic_statuses: tuple[TrafficStatus, ...]
    latest_ready_revision: str | None
    latest_created_revision: str | None
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    uri: str | None = None
    ready_message: str = ""
    last_modifier: str = ""  # who Cloud Run says wrote it last (the authenticated caller)
    update_time: float = 0.0  # when (unix seconds)

    def served_split(self) -> dict[str, int]:
        """Percent served per revision (an empty traffic list means 100 % to the latest ready)."""
        split: dict[str, int] = {}
        statuses = self.traffic_statuses or self.traffic
        for entry in statuses:
            revision = entry.revision or self.latest_ready_revision
            if revision and entry.percent:
                split[revision] = split.get(revision, 0) + entry.percent
        if not statuses and self.latest_ready_revision:
            split[self.latest_ready_revision] = 100
        return split

    def written_split(self) -> dict[str, int]:
        split: dict[str, int] = {}
        for entry in self.traffic:
            revision = entry.revision or self.latest_ready_revision
            if revision and entry.percent:
                split[revision] = split.get(revision, 0) + entry.percent
        if not self.traffic and self.latest_ready_revision:
            split[self.latest_ready_revision] = 100
        return split

    def tags(self) -> dict[str, str]:
        """tag → revision, from the written traffic."""
        return {
            entry.tag: entry.revision or self.latest_ready_revision or ""
            for entry in self.traffic
            if entry.tag
        }

    def tag_uris(self) -> dict[str, str]:
        return {status.tag: status.uri for status in self.traffic_statuses if status.tag and status.uri}


def describe_split(split: Mapping[str, int]) -> str:
    """'rev-a 90 %, rev-b 10 %' in descending percent: how every message states traffic."""
    if not split:
        return "no traffic"
    ordered = sorted(split.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{revision} {percent} %" for revision, percent in ordered)


ANNOTATION_PREFIX = "vinconsole.dev/"
ROLLOUT_ANNOTATION = ANNOTATION_PREFIX + "rollout"
LEASE_ANNOTATION = ANNOTATION_PREFIX + "lease"
