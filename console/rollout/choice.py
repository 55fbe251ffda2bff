"""Which revision is stable, which is the candidate, where a rollback goes: pure choices.

They read the service as last read and its revisions; no I/O, no clock. Each raises UsageError
naming what there is when there is no good answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from console.errors import UsageError
from console.model import Revision, ServiceState, describe_split
from console.state import STABLE_ANNOTATION, Phase, failed_candidates, read_rollout


def stable_revision(service: ServiceState, key: str) -> str:
    """What serves everyone, or the stable revision a rollout recorded when the traffic is split."""
    split = service.served_split()
    full = [rev for rev, pct in split.items() if pct == 100]
    if full:
        return full[0]
    recorded = service.annotations.get(STABLE_ANNOTATION)
    if recorded and recorded in split:
        return recorded
    raise UsageError(
        f"{key} serves {describe_split(split)} and no rollout is recorded: "
        "promote or roll back first (`vinconsole promote|rollback`)"
    )


def resolve_revision(revisions: Mapping[str, Revision], service_name: str, key: str, name: str) -> str:
    """A revision by its full name, its suffix ('00063-tzo') or its number ('63', '00063'): what an
    operator types in an incident. UsageError naming the revisions there are when none matches."""
    if name in revisions:
        return name
    prefixed = f"{service_name}-{name}"
    if prefixed in revisions:
        return prefixed
    if name.isdigit():
        numbered = [r for r in revisions if re.search(rf"-0*{int(name)}-[a-z0-9]+$", r)]
        if len(numbered) == 1:
            return numbered[0]
    newest = sorted(revisions.values(), key=lambda r: r.created, reverse=True)[:8]
    raise UsageError(f"revision {name} does not exist in {key}; its newest revisions: " + ", ".join(r.name for r in newest))


def pick_candidate(
    service: ServiceState, revisions: Mapping[str, Revision], stable: str, explicit: str | None, key: str
) -> str | None:
    """The named revision, else the newest ready one newer than stable that has not failed a rollout."""
    failed = set(failed_candidates(service.annotations))
    if explicit:
        explicit = resolve_revision(revisions, service.name, key, explicit)
        revision = revisions[explicit]
        if not revision.ready:
            raise UsageError(f"revision {explicit} is not ready: {revision.ready_message or 'see Cloud Run'}")
        return None if explicit == stable else explicit
    stable_created = revisions[stable].created if stable in revisions else 0.0
    for revision in sorted(revisions.values(), key=lambda r: r.created, reverse=True):
        if revision.name == stable or revision.name in failed or not revision.ready:
            continue
        return revision.name if revision.created > stable_created else None
    return None


def rollback_target(service: ServiceState, revisions: Mapping[str, Revision], to: str | None, key: str) -> str:
    """Where a rollback goes: the named revision, the rollout's stable one, else the previous revision."""
    if to:
        return resolve_revision(revisions, service.name, key, to)
    serving = service.served_split()
    state = read_rollout(service.annotations)
    if state is not None and (state.active or (state.phase == Phase.PROMOTED and state.candidate in serving)):
        return state.stable
    recorded = service.annotations.get(STABLE_ANNOTATION)
    if recorded is not None and recorded in revisions and serving.get(recorded, 0) < 100:
        return recorded
    newest_serving = max((revisions[r] for r in serving if r in revisions), key=lambda r: r.created, default=None)
    if newest_serving is not None:
        older = [r for r in revisions.values() if r.ready and r.created < newest_serving.created]
        if older:
            return max(older, key=lambda r: r.created).name
    raise UsageError(f"{key}: no earlier ready revision to roll back to; name one with --to REVISION")
