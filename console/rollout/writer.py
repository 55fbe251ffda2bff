"""The fenced writer and the lease: the one way the engine changes a service.

Every write is a compare-and-swap against what this engine last wrote and read (`fence.Fence`:
written traffic and tags, the rollout state, its lease with its generation); anything else on a
fresh read stops the engine without a write. A write is done when Cloud Run serves it. Reads go
through `refresh()`, which applies the same check, so a driver notices at its next read too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from console.audit import Audit, Notifier, split_json
from console.clock import Clock
from console.config import Config, Target
from console.errors import ConflictError, LeaseHeldError, VerificationError, VinconsoleError
from console.gcp.clients import Clients
from console.gcp.logs import Logs
from console.gcp.monitoring import Metrics
from console.gcp.run import CloudRun
from console.identity import driver_identity, holder_runs, mark_driving, my_lease
from console.model import LEASE_ANNOTATION, ROLLOUT_ANNOTATION, Revision, ServiceState, TrafficTarget, describe_split
from console.rollout.events import Event, Interrupted, Outcome, iso_time
from console.rollout.fence import Fence, RolledBackByOperator, ServiceChanged, stop_error, traffic_key
from console.rollout.outcomes import EventKind, ExitCode, OnInterrupt, OutcomeKind
from console.state import RolloutState, lease_blocks, lease_driving, read_lease, read_rollout

CONFLICT_RETRIES = 6
# How long (clock seconds) a written split may take to be served before the write counts as
# unverified (exit 3). Cloud Run reconciles in seconds; a resumed rollout waits as long.
SERVE_BOUND_SECONDS = 120.0


class FencedWriter:
    """One service in one environment: its last read, this engine's fence and lease, and writes."""

    def __init__(
        self,
        config: Config,
        target: Target,
        clients: Clients,
        clock: Clock,
        *,
        on_event: Callable[[Event], None] | None = None,
        poll_seconds: float | None = None,
        stop: threading.Event | None = None,
        on_interrupt: OnInterrupt = "rollback",
    ):
        self.config = config
        self.target = target
        self.clock = clock
        self.run = CloudRun(clients, clock, caller=driver_identity())
        self.metrics = Metrics(clients)
        self.logs = Logs(clients)
        self.on_event = on_event or (lambda event: None)
        self.poll_seconds = poll_seconds or max(5.0, config.analysis.window_seconds / 4)
        self.stop = stop or threading.Event()
        self.on_interrupt = on_interrupt
        self.lease = my_lease(clock.now(), config.rollout.lease_seconds)
        self.audit = Audit(
            self.logs, target.project, target.region, target.service, target.env, driver_identity(),
            warn=self._audit_not_written,
        )
        self.notifier = Notifier(config.notifications.webhook_url_env, warn=self._warn)
        self.service: ServiceState | None = None
        self.revisions: dict[str, Revision] = {}
        self.holding = False  # whether our lease is on the service (as last written)
        # what this engine last wrote and read; None until it takes the lease
        self.fence: Fence | None = None
        self.fenced_out = False  # someone else changed the service: this engine writes nothing more
        self.rollout_id: str | None = None  # the rollout this engine drives
        self.preempted: str | None = None  # the holder whose lease an operator's rollback took
        self.current: RolloutState | None = None  # the state being driven (may be ahead of the one written)
        self.outcome = Outcome(OutcomeKind.ABORTED, ExitCode.INFRASTRUCTURE, "")

    # ----------------------------------------------------------------- events and helpers

    def emit(self, kind: EventKind, message: str, **data: Any) -> None:
        state = read_rollout(self.service.annotations) if self.service else None
        self.on_event(
            Event(
                at=self.clock.now(),
                kind=kind,
                message=message,
                step=data.pop("step", state.step + 1 if state else None),
                percent=data.pop("percent", state.percent if state else None),
                data=data,
            )
        )

    def _warn(self, message: str) -> None:
        self.emit(EventKind.WARN, message)

    def _audit_not_written(self, message: str) -> None:
        """A warning a screen acts on (the shared history would miss the entry): said by a data key, not the text."""
        self.emit(EventKind.WARN, message, audit_not_written=True)

    def _check_stop(self) -> None:
        """Act on an interrupt at once, wherever the engine is (lease, start, smoke, a write)."""
        if self.stop.is_set():
            raise Interrupted()

    def _sleep(self, seconds: float) -> None:
        """Sleep on the clock, waking at once when asked to stop."""
        if self.stop.is_set():
            raise Interrupted()
        real = self.clock.real_seconds(seconds)
        if real <= 0:  # a manual clock: sleeping moves it
            self.clock.sleep(seconds)
        elif self.stop.wait(real):
            raise Interrupted()

    def refresh(self) -> ServiceState:
        """Read the service and its revisions; while driving, stop on anything this engine did not write."""
        t = self.target
        fresh = self.run.get_service(t.project, t.region, t.service)
        self.revisions = {r.name: r for r in self.run.list_revisions(t.project, t.region, t.service)}
        self._check_fence(fresh)
        self.service = fresh
        return fresh

    def _check_fence(self, fresh: ServiceState) -> None:
        if self.fence is None:
            return
        error = stop_error(self.target.key, self.rollout_id, self.fence, fresh, iso_time(fresh.update_time))
        if error is not None:
            self._stop_driving(error, fresh)

    def _stop_driving(self, error: ServiceChanged | RolledBackByOperator, fresh: ServiceState) -> None:
        """Someone else wrote the service: say what and who, audit it, never write again, raise `error`."""
        self.fenced_out = True
        self.fence = None
        self.holding = False
        self.service = fresh
        self.emit(EventKind.STOPPED, str(error))
        self.audit.record(
            "stopped",
            self.clock.now(),
            revision=self.rollout_candidate or "",
            message=str(error),
            rollout=self.rollout_id,
            by=fresh.last_modifier or None,
            changes=getattr(error, "what", None),
            after=split_json(fresh.served_split()),
            after_written=split_json(fresh.written_split()),
            driver=self.lease.holder,
            severity="WARNING",
        )
        raise error

    @property
    def rollout_candidate(self) -> str | None:
        state = self.state
        return state.candidate if state and state.id == self.rollout_id else None

    @property
    def state(self) -> RolloutState | None:
        return read_rollout(self.service.annotations) if self.service else None

    # ------------------------------------------------------------------------ writing

    def _traffic(self, split: Mapping[str, int], tags: Mapping[str, str]) -> list[TrafficTarget]:
        """Entries for `split`, keeping every tag already on the service unless re-assigned."""
        assert self.service is not None
        all_tags = {tag: rev for tag, rev in self.service.tags().items() if rev in self.revisions}
        for tag, revision in tags.items():
            all_tags = {t: r for t, r in all_tags.items() if t != tag}
            all_tags[tag] = revision
        by_revision: dict[str, list[str]] = {}
        for tag, revision in sorted(all_tags.items()):
            by_revision.setdefault(revision, []).append(tag)
        entries: list[TrafficTarget] = []
        for revision, percent in sorted(split.items(), key=lambda item: -item[1]):
            if percent <= 0:
                continue
            revision_tags = by_revision.pop(revision, [])
            entries.append(TrafficTarget(percent, revision, revision_tags[0] if revision_tags else None))
            entries.extend(TrafficTarget(0, revision, tag) for tag in revision_tags[1:])
        for revision, revision_tags in by_revision.items():
            entries.extend(TrafficTarget(0, revision, tag) for tag in revision_tags)
        return entries

    def write(
        self,
        split: Mapping[str, int] | None,
        *,
        state: RolloutState | None,
        tags: Mapping[str, str] | None = None,
        annotations: Mapping[str, str | None] | None = None,
        hold_lease: bool = True,
        reason: str,
        kind: str = "traffic",
        audit: bool = True,
        details: Mapping[str, Any] | None = None,
        interruptible: bool = True,
    ) -> ServiceState:
        """One fenced write carrying the rollout state and the lease; done when Cloud Run serves it.

        `split` None keeps the traffic as written (never as served: a write still reconciling is not
        undone by a lease or state write). Before sending, the service is re-read and checked against
        what this engine last wrote (the fence); the write itself is a compare-and-swap on the etag
        of that read. A conflict is retried only when nothing this engine did not write changed.
        """
        if interruptible:
            self._check_stop()
        if self.fenced_out:
            raise RuntimeError("a fenced-out engine must not write")  # a bug, not an operator error
        service = self.refresh()
        before_served, before_written = service.served_split(), service.written_split()
        wanted_annotations: dict[str, str | None] = dict(annotations or {})
        if state is not None:
            wanted_annotations[ROLLOUT_ANNOTATION] = state.to_annotation()
        if hold_lease:
            self.lease = replace(self.lease, expires=self.clock.now() + self.config.rollout.lease_seconds)
            wanted_annotations[LEASE_ANNOTATION] = self.lease.to_annotation()
        else:
            wanted_annotations[LEASE_ANNOTATION] = None
        for attempt in range(CONFLICT_RETRIES):
            traffic = list(service.traffic) if split is None and not tags else self._traffic(
                service.written_split() if split is None else split, tags or {}
            )
            try:
                written = self.run.write_traffic(
                    service, traffic, wanted_annotations, revisions=self.revisions, wait_served=False
                )
                break
            except ConflictError as conflict:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                if self.stop.wait(min(2.0, 0.1 * 2**attempt)) and interruptible:
                    raise Interrupted() from None
                service = self.refresh()  # raises if someone else wrote what the fence guards
                self._warn(f"write conflicted ({conflict.code}) but nothing this console guards changed; retrying")
        self.fence = Fence.intended(service, traffic, wanted_annotations)
        self.holding = hold_lease
        self._check_fence(written)
        self.service = written
        wanted_split = written.written_split()
        if traffic_key(traffic) != traffic_key(service.traffic):  # a split or a tag changed: done once served
            self.emit(EventKind.WRITTEN, f"wrote {describe_split(wanted_split)} — {reason}; waiting for Cloud Run to "
                      f"serve it (serving {describe_split(written.served_split())})")
            self.service = self._await_served(wanted_split)
        after = self.service.served_split()
        if not audit:
            return self.service
        self.audit.record(
            kind,
            self.clock.now(),
            revision=(state.candidate if state else ""),
            message=reason,
            rollout=state.id if state else None,
            candidate=state.candidate if state else None,
            stable=state.stable if state else None,
            phase=state.phase if state else None,
            step=(state.step + 1) if state else None,
            percent=state.percent if state else None,
            before=split_json(before_served),
            after=split_json(after),
            before_written=split_json(before_written),
            after_written=split_json(wanted_split),
            driver=self.lease.holder,
            lease_generation=self.lease.generation,
            candidate_created=state.candidate_created if state else None,
            **dict(details or {}),
        )
        if wanted_split == before_written:  # a state or lease write: say so rather than announce a traffic change
            self.emit(EventKind.TRAFFIC, f"{reason} (traffic unchanged: {describe_split(after)})", before=before_served,
                      after=after)
        else:
            self.emit(EventKind.TRAFFIC, f"traffic now {describe_split(after)} — {reason}", before=before_served,
                      after=after)
        return self.service

    def _await_served(self, wanted: Mapping[str, int]) -> ServiceState:
        """Re-read (fenced) until Cloud Run serves `wanted` and has reconciled the last write (its tags and
        their URLs included); VerificationError past SERVE_BOUND_SECONDS."""
        deadline = self.clock.now() + SERVE_BOUND_SECONDS
        real_per_clock_second = self.clock.real_seconds(1.0)
        # poll about every clock second, but not faster than every 50 ms of real time
        pause = 1.0 if real_per_clock_second <= 0 else max(1.0, 0.05 / real_per_clock_second)
        while True:
            service = self.service if self.service is not None else self.refresh()
            if service.served_split() == dict(wanted) and service.observed_generation >= service.generation:
                return service
            if self.clock.now() > deadline:
                raise VerificationError(
                    f"{self.target.key}: wrote {describe_split(wanted)} but after {SERVE_BOUND_SECONDS:.0f} s it serves "
                    f"{describe_split(service.served_split())}"
                    f"{' (still reconciling)' if service.reconciling else ''}; check it with `vinconsole status`"
                )
            if real_per_clock_second <= 0:
                self.clock.sleep(pause)  # a manual clock: Cloud Run (the emulator) reconciles as it moves
            else:  # an interrupt is acted on by the caller's next check: this write is already sent
                self.stop.wait(self.clock.real_seconds(pause))
            self.refresh()

    # ------------------------------------------------------------------------ the lease

    def acquire(self, *, preempt: bool = False) -> None:
        """Take the service's lease with the next generation, or raise LeaseHeldError naming the holder.

        `preempt` (an operator's rollback, which always wins): take it from a live holder too; the
        holder notices at its next read or write and stops without touching traffic.
        """
        self._check_stop()
        self.fence = None
        service = self.refresh()
        now = self.clock.now()
        lease = read_lease(service.annotations)
        alive = holder_runs(lease) if lease else False
        blocked = lease_blocks(lease, self.lease, now, alive, late_grace=self.config.rollout.lease_seconds)
        if blocked and not preempt:
            assert lease is not None
            raise LeaseHeldError(lease.holder, lease.expires - now, self.target.key)
        driving = preempt and lease is not None and lease_driving(lease, self.lease, now, alive)
        self.preempted = lease.holder if driving and lease is not None else None
        self.lease = replace(self.lease, generation=(lease.generation if lease else 0) + 1)
        if lease and not lease.same_holder(self.lease) and not blocked:
            if lease.expires > now:
                self._warn(f"taking over the lease of {lease.holder}: its driver no longer runs")
            elif lease.host == self.lease.host and alive:
                self._warn(f"taking over the lease of {lease.holder}: it lapsed {now - lease.expires:.0f} s ago "
                           "unrenewed, though that process still runs")
        if self.preempted:
            self._warn(f"taking the lease from {self.preempted}, who is driving: a rollback always wins")
        self.fence = Fence.of(service)
        mark_driving(self.lease.session, True)
        if preempt:  # the rollback write itself carries it: a driver must see the rollback, not a lease change
            return
        self.write(None, state=None, reason="lease taken", kind="lease")

    def renew_lease_if_due(self, state: RolloutState | None = None) -> None:
        if self.lease.expires - self.clock.now() < self.config.rollout.lease_seconds / 2:
            self.write(None, state=state, reason="lease renewed", kind="lease", audit=False)

    def release(self) -> None:
        """Drop our lease if we still hold it (best effort: it expires anyway). Never after someone
        else changed the service: that is theirs now."""
        mark_driving(self.lease.session, False)
        if not self.holding or self.fenced_out:
            return
        try:
            self.write(None, state=None, hold_lease=False, reason="lease released", kind="lease", interruptible=False)
        except VinconsoleError as error:
            if not isinstance(error, (ServiceChanged, RolledBackByOperator)):
                self._warn(f"could not release the lease (it expires by itself): {error}")

    def _flush_audit(self) -> None:
        """Retry audit entries that could not be written; say loudly what is still missing."""
        if not self.audit.flush():
            self.emit(EventKind.ERROR, f"{len(self.audit.pending)} audit entr{'y' if len(self.audit.pending) == 1 else 'ies'} "
                      f"({', '.join(e.kind for e in self.audit.pending)}) could not be written to Cloud Logging: the "
                      "traffic changes are done, but `vinconsole history` will miss them; see the warnings above")
