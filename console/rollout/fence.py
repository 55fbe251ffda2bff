"""The fence: what this engine last wrote and read, and what on a fresh read it did not write.

Every engine write is a compare-and-swap against its own last write: the written traffic (split
and tags), the rollout state, its lease (holder and generation, the fencing token) and the
stable/failed marks. A fresh read that differs in any of these was written by someone else — a
`gcloud run services update-traffic`, another console, an operator's rollback, a Terraform apply
— and the engine stops without writing (`ServiceChanged`, exit 4; `RolledBackByOperator`,
exit 1). The etag alone cannot tell: Cloud Run may change it without a write that matters, and
an engine that re-reads before writing would take any change as its own.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from console.errors import VinconsoleError
from console.model import LEASE_ANNOTATION, ROLLOUT_ANNOTATION, ServiceState, TrafficTarget, describe_split
from console.rollout.outcomes import ExitCode
from console.state import FAILED_ANNOTATION, STABLE_ANNOTATION, Phase, read_lease, read_rollout

FENCED_ANNOTATIONS = (ROLLOUT_ANNOTATION, LEASE_ANNOTATION, STABLE_ANNOTATION, FAILED_ANNOTATION)


def traffic_key(traffic: tuple[TrafficTarget, ...] | list[TrafficTarget]) -> tuple[tuple[str, int, str], ...]:
    """Written traffic compared as a set: order does not matter, revision, percent and tag do."""
    return tuple(sorted((entry.revision or "LATEST", entry.percent, entry.tag or "") for entry in traffic))


@dataclass(frozen=True)
class Fence:
    traffic: tuple[tuple[str, int, str], ...]
    annotations: tuple[tuple[str, str | None], ...]

    @classmethod
    def of(cls, service: ServiceState) -> Fence:
        return cls(
            traffic_key(service.traffic),
            tuple((key, service.annotations.get(key)) for key in FENCED_ANNOTATIONS),
        )

    @classmethod
    def intended(
        cls, before: ServiceState, traffic: list[TrafficTarget], annotations: Mapping[str, str | None]
    ) -> Fence:
        """What the service holds once a write of `traffic` and `annotations` onto `before` is applied."""
        merged = {key: before.annotations.get(key) for key in FENCED_ANNOTATIONS}
        merged.update({key: value for key, value in annotations.items() if key in merged})
        return cls(traffic_key(traffic), tuple(merged.items()))

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)


def changes(expected: Fence, fresh: ServiceState) -> list[str]:
    """What differs on `fresh` from what this engine last wrote, in words with the values."""
    found: list[str] = []
    if traffic_key(fresh.traffic) != expected.traffic:
        written = {rev: pct for rev, pct, _ in expected.traffic if pct}
        found.append(
            f"traffic written {describe_split(written)} → {describe_split(fresh.written_split())}"
            if written != fresh.written_split()
            else "traffic tags changed: "
            + ", ".join(f"{tag}→{rev}" for rev, _, tag in sorted(expected.traffic) if tag)
            + " → "
            + ", ".join(f"{tag}→{rev}" for tag, rev in sorted(fresh.tags().items()))
        )
    now = fresh.annotations
    for key, value in expected.annotations:
        if now.get(key) == value:
            continue
        if key == LEASE_ANNOTATION:
            lease, mine = read_lease(now), read_lease({key: value} if value else {})
            holder = f"{lease.holder} (generation {lease.generation})" if lease else "nobody"
            was = f"{mine.holder} (generation {mine.generation})" if mine else "nobody"
            found.append(f"lease {was} → {holder}")
        elif key == ROLLOUT_ANNOTATION:
            state = read_rollout(now)
            found.append(
                f"rollout state → {state.id} {state.phase}{': ' + state.reason if state.reason else ''}"
                if state
                else "rollout state removed"
            )
        else:
            found.append(f"{key.rsplit('/', 1)[-1]} {value or '(none)'} → {now.get(key) or '(none)'}")
    return found


class ServiceChanged(VinconsoleError):
    """Someone else wrote the service: this engine stops driving and writes nothing more."""

    exit_code = ExitCode.SERVICE_CHANGED

    def __init__(self, service_key: str, what: list[str], fresh: ServiceState, when: str):
        self.what = what
        self.fresh = fresh
        self.by = fresh.last_modifier or "someone else (Cloud Run does not say who)"
        super().__init__(
            f"{service_key}: someone else changed the service — {'; '.join(what)} — last modified by {self.by}"
            f"{' at ' + when if when else ''}; it serves {describe_split(fresh.served_split())}"
            f"{' (still reconciling)' if fresh.reconciling else ''}. This console stopped without writing: "
            "look with `vinconsole status`, then rerun to resume or `vinconsole rollback` to end the rollout"
        )


class RolledBackByOperator(VinconsoleError):
    """An operator's rollback pre-empted this driver: it stops without touching traffic."""

    exit_code = ExitCode.ROLLED_BACK

    def __init__(self, service_key: str, by: str, reason: str, fresh: ServiceState):
        self.by = by
        self.reason = reason
        self.fresh = fresh
        super().__init__(
            f"{service_key}: rolled back by {by} ({reason}); it serves {describe_split(fresh.served_split())}. "
            "This console stopped without writing"
        )


def stop_error(service_key: str, rollout_id: str | None, expected: Fence, fresh: ServiceState, when: str) -> ServiceChanged | RolledBackByOperator | None:
    """The error that stops a driver on `fresh`, or None when nothing it did not write changed."""
    what = changes(expected, fresh)
    if not what:
        return None
    state = read_rollout(fresh.annotations)
    if state is not None and rollout_id is not None and state.id == rollout_id and state.phase == Phase.ROLLED_BACK:
        return RolledBackByOperator(service_key, state.ended_by or fresh.last_modifier or "an operator", state.reason, fresh)
    return ServiceChanged(service_key, what, fresh, when)
