"""The rollout engine: smoke-check, step traffic, judge each step, promote or roll back.

Headless (`--auto-promote`) and the terminal UI drive this same code. Every write is fenced
(`console.rollout.fence`): a compare-and-swap against what this engine last wrote and read —
traffic, tags, rollout state, its lease and the lease's generation. Anything it did not write
stops it without a write (exit 4; exit 1 when an operator rolled back). A write is done when
Cloud Run serves it, and a step is judged only on windows from then. Each write carries the
rollout state in the service's annotations and is written to the audit log; the caller is told
of everything through `Event`s.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from console.audit import Audit, Notifier, split_json
from console.clock import Clock
from console.config import Config, Target
from console.errors import (
    ApiError,
    ConflictError,
    LeaseHeldError,
    UsageError,
    VerificationError,
    VinconsoleError,
)
from console.gcp.clients import Clients
from console.gcp.logs import Logs
from console.gcp.monitoring import Metrics
from console.gcp.run import CloudRun
from console.identity import driver_identity, my_lease, pid_alive
from console.judge import Evidence, Verdict, judge_step
from console.model import LEASE_ANNOTATION, ROLLOUT_ANNOTATION, Revision, ServiceState, TrafficTarget, describe_split
from console.rollout.fence import Fence, RolledBackByOperator, ServiceChanged, stop_error, traffic_key
from console.rollout.outcomes import EventKind, ExitCode, OutcomeKind, RollbackWhy
from console.samples import first_window_start, judge_params, last_complete_end, slow_threshold, step_samples
from console.smoke import SmokeResult, run_smoke
from console.state import (
    FAILED_ANNOTATION,
    STABLE_ANNOTATION,
    Phase,
    RolloutState,
    failed_candidates,
    lease_blocks,
    read_lease,
    read_rollout,
    with_failed,
)

CONFLICT_RETRIES = 6
# How long (clock seconds) a written split may take to be served before the write counts as
# unverified (exit 3). Cloud Run reconciles in seconds; a resumed rollout waits as long.
SERVE_BOUND_SECONDS = 120.0
# During a bake, reads refused for this long (clock seconds) end the rollout as an infrastructure
# failure (stable put back, exit 3); until then each refused read is a missing sample and the judge
# waits: Monitoring keeps the windows, so the next good read judges them all.
READ_OUTAGE_BOUND_SECONDS = 600.0
READ_RETRY_SECONDS = 60.0  # the next read after a refused one (per-minute quotas)
# An operator's rollback re-reads and tries again when a driver wrote between its read and its write.
ROLLBACK_ATTEMPTS = 3


class Interrupted(Exception):
    """SIGINT/SIGTERM (or the operator) asked the rollout to stop."""


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # an EventKind
    message: str
    step: int | None = None
    percent: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StepReport:
    percent: int
    started: float
    ended: float | None = None
    verdict: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    outcome: str  # an OutcomeKind
    exit_code: int  # an ExitCode
    message: str
    candidate: str | None = None
    stable: str | None = None
    smoke: list[SmokeResult] = field(default_factory=list)
    steps: list[StepReport] = field(default_factory=list)
    traffic: dict[str, int] = field(default_factory=dict)


class Engine:
    """Drives one service in one environment."""

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
        on_interrupt: str = "rollback",
    ):
        self.config = config
        self.target = target
        self.clock = clock
        self.run = CloudRun(clients, clock)
        self.metrics = Metrics(clients)
        self.logs = Logs(clients)
        self.on_event = on_event or (lambda event: None)
        self.poll_seconds = poll_seconds or max(5.0, config.analysis.window_seconds / 4)
        self.stop = stop or threading.Event()
        self.on_interrupt = on_interrupt
        self.lease = my_lease(clock.now(), config.rollout.lease_seconds)
        self.audit = Audit(
            self.logs, target.project, target.region, target.service, target.env, driver_identity(), warn=self._warn
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

    def emit(self, kind: str, message: str, **data: Any) -> None:
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
        blocked = lease_blocks(lease, self.lease, now, pid_alive(lease.pid) if lease else False)
        if blocked and not preempt:
            assert lease is not None
            raise LeaseHeldError(lease.holder, lease.expires - now, self.target.key)
        self.preempted = lease.holder if blocked and lease is not None else None
        self.lease = replace(self.lease, generation=(lease.generation if lease else 0) + 1)
        if lease and not lease.same_holder(self.lease) and lease.expires > now and not blocked:
            self._warn(f"taking over the lease of {lease.holder}: that process no longer runs")
        if self.preempted:
            self._warn(f"taking the lease from {self.preempted}, who is driving: a rollback always wins")
        self.fence = Fence.of(service)
        if preempt:  # the rollback write itself carries it: a driver must see the rollback, not a lease change
            return
        self.write(None, state=None, reason="lease taken", kind="lease")

    def renew_lease_if_due(self, state: RolloutState | None = None) -> None:
        if self.lease.expires - self.clock.now() < self.config.rollout.lease_seconds / 2:
            self.write(None, state=state, reason="lease renewed", kind="lease", audit=False)

    def release(self) -> None:
        """Drop our lease if we still hold it (best effort: it expires anyway). Never after someone
        else changed the service: that is theirs now."""
        if not self.holding or self.fenced_out:
            return
        try:
            self.write(None, state=None, hold_lease=False, reason="lease released", kind="lease", interruptible=False)
        except VinconsoleError as error:
            if not isinstance(error, (ServiceChanged, RolledBackByOperator)):
                self._warn(f"could not release the lease (it expires by itself): {error}")

    # -------------------------------------------------------------------- choosing

    def stable_revision(self) -> str:
        assert self.service is not None
        split = self.service.served_split()
        full = [rev for rev, pct in split.items() if pct == 100]
        if full:
            return full[0]
        recorded = self.service.annotations.get(STABLE_ANNOTATION)
        if recorded and recorded in split:
            return recorded
        raise UsageError(
            f"{self.target.key} serves {describe_split(split)} and no rollout is recorded: "
            "promote or roll back first (`vinconsole promote|rollback`)"
        )

    def resolve_revision(self, name: str) -> str:
        """A revision by its full name, its suffix ('00063-tzo') or its number ('63', '00063'): what an
        operator types in an incident. UsageError naming the revisions there are when none matches."""
        if name in self.revisions:
            return name
        prefixed = f"{self.target.service}-{name}"
        if prefixed in self.revisions:
            return prefixed
        if name.isdigit():
            numbered = [r for r in self.revisions if re.search(rf"-0*{int(name)}-[a-z0-9]+$", r)]
            if len(numbered) == 1:
                return numbered[0]
        newest = sorted(self.revisions.values(), key=lambda r: r.created, reverse=True)[:8]
        raise UsageError(
            f"revision {name} does not exist in {self.target.key}; its newest revisions: "
            + ", ".join(r.name for r in newest)
        )

    def pick_candidate(self, stable: str, explicit: str | None) -> str | None:
        failed = set(failed_candidates(self.service.annotations if self.service else {}))
        if explicit:
            explicit = self.resolve_revision(explicit)
            revision = self.revisions[explicit]
            if not revision.ready:
                raise UsageError(f"revision {explicit} is not ready: {revision.ready_message or 'see Cloud Run'}")
            return None if explicit == stable else explicit
        stable_created = self.revisions[stable].created if stable in self.revisions else 0.0
        for revision in sorted(self.revisions.values(), key=lambda r: r.created, reverse=True):
            if revision.name == stable or revision.name in failed or not revision.ready:
                continue
            return revision.name if revision.created > stable_created else None
        return None

    # --------------------------------------------------------------------- the rollout

    def auto_promote(self, revision: str | None = None, image: str | None = None) -> Outcome:
        """The whole rollout; returns how it ended (never leaves traffic unexplained)."""
        try:
            self.acquire()
            if image:
                revision = self.deploy(image)
            state = self._start_or_resume(revision)
            if state is None:
                return self.outcome
            return self._drive(state)
        except Interrupted:
            return self._interrupted()
        except LeaseHeldError:
            raise
        except VinconsoleError as error:
            return self._infrastructure_failure(error)
        finally:
            self.release()
            self._flush_audit()

    def _start_or_resume(self, revision: str | None) -> RolloutState | None:
        assert self.service is not None
        state = self.state
        if state and state.active and (revision is None or revision == state.candidate):
            self.emit(
                EventKind.RESUME,
                f"resuming rollout {state.id} of {state.candidate} at {state.percent} % ({state.phase}), "
                f"started by {state.driver}",
            )
            self.outcome.steps = [
                StepReport(h.percent, h.started, h.ended, h.verdict, {}, list(h.reasons)) for h in state.history
            ]
            self.rollout_id = state.id
            state = state.driven_by(self.lease.holder)  # written with the next step or lease renewal
            if state.phase == Phase.PAUSED:
                state = state.resumed(self.clock.now())
                self.write(None, state=state, reason=f"rollout {state.id} resumed at {state.percent} %", kind="resume")
            return state
        stable = self.stable_revision()
        candidate = self.pick_candidate(stable, revision)
        if candidate is None:
            message = (
                f"nothing to do: {stable} serves 100 % and there is no newer ready revision "
                "that has not already failed a rollout"
            )
            self.outcome = Outcome(OutcomeKind.NOOP, ExitCode.OK, message, None, stable, traffic=self.service.served_split())
            self.emit(EventKind.NOOP, message)
            return None
        now = self.clock.now()
        steps = tuple(self.target.rollout.steps)
        state = RolloutState(
            id=f"r-{uuid.uuid4().hex[:8]}",
            candidate=candidate,
            stable=stable,
            phase="smoke",
            step=0,
            percent=0,
            steps=steps,
            started=now,
            step_started=now,
            driver=self.lease.holder,
            evidence=Evidence().to_dict(),
            latency_threshold_ms=self._latency_threshold(stable),
            candidate_created=self.revisions[candidate].created,
            drivers=(self.lease.holder,),
        )
        self.rollout_id = state.id
        self.write(
            {stable: 100},
            state=state,
            tags={self.config.rollout.candidate_tag: candidate, self.config.rollout.stable_tag: stable},
            annotations={STABLE_ANNOTATION: stable},
            reason=f"rollout {state.id} started: {candidate} (candidate) against {stable} (stable)",
            kind="start",
        )
        self.emit(EventKind.START, f"rolling out {candidate} against stable {stable}: steps {' → '.join(map(str, steps))} %")
        self.notifier.send(f"vinconsole: rolling out {candidate} to {self.target.key} (stable {stable}) — {self.lease.holder}")
        return state

    def _latency_threshold(self, stable: str) -> float:
        """Stable's p95 over the trailing day, snapped to a bucket edge (else the service's SLO)."""
        t = self.target
        fallback = t.settings.latency_target_ms
        now = self.clock.now()
        end = (now // 3600) * 3600
        try:
            windows = self.metrics.revision_windows(
                t.project, t.region, end - 86400, end, service=t.service, period=3600, usage=False
            )
        except ApiError as error:
            self._warn(f"no trailing-day latency for {stable} ({error}); slow means over {fallback:.0f} ms")
            return fallback
        from console.distribution import merge_all

        histograms = [w.latency for w in windows.get((t.service, stable), {}).values() if w.latency is not None]
        return slow_threshold(merge_all(histograms), fallback)

    def _drive(self, state: RolloutState) -> Outcome:
        if state.phase == Phase.SMOKE:
            first = self._smoke_then_first_step(state)
            if isinstance(first, Outcome):
                return first
            state = first
        else:
            state = self._ensure_served(state)
        while True:
            if state.percent >= 100:
                return self._confirm_full(state)
            verdict = self.bake(state)
            now = self.clock.now()
            report = self._step_report(state, verdict, now)
            if verdict.decision == "fail":
                return self.roll_back(state, list(verdict.reasons), RollbackWhy.ANALYSIS, verdict=verdict)
            if verdict.decision == "inconclusive":
                if self.target.rollout.on_inconclusive == "extend" and not state.extended:
                    state = replace(state, extended=True)
                    self.write(
                        {state.stable: 100 - state.percent, state.candidate: state.percent},
                        state=state,
                        reason=f"step {state.step + 1} inconclusive; baking extended once: " + "; ".join(verdict.reasons),
                        kind="hold",
                    )
                    self.outcome.steps.remove(report)
                    continue
                return self.roll_back(
                    state, ["not enough evidence to promote (fail safe): " + "; ".join(verdict.reasons)],
                    RollbackWhy.INCONCLUSIVE, verdict=verdict,
                )
            # pass: re-check health before more users see the candidate
            results = self.smoke(state.candidate)
            self.outcome.smoke.extend(results)
            failed = [r for r in results if not r.ok]
            if failed:
                return self.roll_back(state, [f"smoke check {r.name} failed after step: {r.error}" for r in failed],
                                      RollbackWhy.SMOKE)
            state = state.with_step_result("pass", verdict.reasons, now)
            next_index = state.step + 1
            state = replace(
                state,
                step=next_index,
                percent=state.steps[next_index],
                # from the write, not the verdict: the smoke checks in between ran on the old split,
                # and the next step's windows and minimum bake must not include them
                step_started=self.clock.now(),
                evidence=verdict.evidence.to_dict(),
                extended=False,
            )
            state = self._write_step(state)

    def _smoke_then_first_step(self, state: RolloutState) -> RolloutState | Outcome:
        """Smoke-check the candidate behind its tag; only if every check passes, send it the first step."""
        results = self.smoke(state.candidate)
        self.outcome.smoke = results
        failed = [r for r in results if not r.ok]
        if failed:
            return self.roll_back(state, [f"smoke check {r.name} failed: {r.error}" for r in failed], RollbackWhy.SMOKE)
        state = replace(state, phase=Phase.BAKING, step=0, percent=state.steps[0], step_started=self.clock.now())
        return self._write_step(state)

    def _confirm_full(self, state: RolloutState) -> Outcome:
        """The last step: the candidate serves everyone; check its health once more, then promote."""
        results = self.smoke(state.candidate)
        self.outcome.smoke.extend(results)
        failed = [r for r in results if not r.ok]
        if failed:
            return self.roll_back(state, [f"smoke check {r.name} failed at 100 %: {r.error}" for r in failed],
                                  RollbackWhy.SMOKE)
        now = self.clock.now()
        reasons = [f"{state.candidate} serves 100 %"]
        if results:
            reasons.append(
                "smoke checks pass at 100 %: " + ", ".join(f"{r.name} {r.status} in {r.latency_ms:.0f} ms" for r in results)
            )
        self.outcome.steps.append(
            StepReport(100, state.step_started, now, "pass", {"smoke": [r.to_json() for r in results]}, reasons)
        )
        return self.promote(state.with_step_result("pass", tuple(reasons), now))

    def _write_step(self, state: RolloutState) -> RolloutState:
        """Write the step; it counts (and its windows start) from when Cloud Run serves it."""
        state = replace(state, served_at=None)
        self.write(
            {state.stable: 100 - state.percent, state.candidate: state.percent},
            state=state,
            reason=f"step {state.step + 1}/{len(state.steps)}: {state.candidate} to {state.percent} %",
        )
        return replace(state, served_at=self.clock.now())

    def _ensure_served(self, state: RolloutState) -> RolloutState:
        """A resumed step: its split must be the one written, and served, before any window counts.

        A driver killed right after a step write leaves it written but maybe not served yet: wait
        (bounded) for Cloud Run, then judge only windows from the moment it was seen served. A step
        whose serving start this engine did not see (served_at unset) restarts its clock now — the
        conservative choice: never a window that served the step before.
        """
        assert self.service is not None
        wanted = {state.stable: 100 - state.percent, state.candidate: state.percent}
        wanted = {rev: pct for rev, pct in wanted.items() if pct}
        written = self.service.written_split()
        if written != wanted:
            error = ServiceChanged(
                self.target.key,
                [f"rollout {state.id} records {state.candidate} at {state.percent} % but the traffic written is "
                 f"{describe_split(written)}"],
                self.service,
                iso_time(self.service.update_time),
            )
            self._stop_driving(error, self.service)
        served = self.service.served_split()
        if served == wanted and state.served_at is not None and state.served_at >= state.step_started:
            return state
        if served != wanted:
            self.emit(EventKind.WARN, f"step {state.step + 1} is written ({describe_split(wanted)}) but Cloud Run serves "
                      f"{describe_split(served)}: waiting up to {SERVE_BOUND_SECONDS:.0f} s for it to be served")
            self._await_served(wanted)
        now = self.clock.now()
        self.emit(EventKind.SERVED, f"step {state.step + 1} at {state.percent} % served; judged on windows from "
                  f"{iso_time(now)} only")
        state = replace(state, served_at=now)
        self.write(None, state=state, reason=f"step {state.step + 1} served from {iso_time(now)}", kind="lease",
                   audit=False)
        return state

    def _step_report(self, state: RolloutState, verdict: Verdict, now: float) -> StepReport:
        report = StepReport(
            percent=state.percent,
            started=state.served_at if state.served_at is not None else state.step_started,  # judged from then
            ended=now,
            verdict=verdict.decision,
            metrics=verdict.metrics,
            reasons=list(verdict.reasons),
        )
        self.outcome.steps.append(report)
        return report

    def smoke(self, candidate: str) -> list[SmokeResult]:
        checks = self.target.settings.smoke
        if not checks:
            self.emit(EventKind.SMOKE, "no smoke checks configured for this service", phase="smoke")
            return []
        service = self.refresh()
        uri = next(
            (s.uri for s in service.traffic_statuses if s.revision == candidate and s.tag and s.uri), None
        )
        if uri is None:
            return [SmokeResult("tag-url", False, None, None, f"{candidate} has no tag URL to check")]
        self.emit(EventKind.SMOKE, f"smoke checks against {uri}")
        results = run_smoke(
            uri,
            checks,
            authenticate=not self.run.clients.emulator_host,
            on_result=self._smoke_result,
        )
        self.audit.record(
            "smoke",
            self.clock.now(),
            revision=candidate,
            message=f"smoke checks of {candidate}: " + ", ".join(("ok " if r.ok else "FAILED ") + r.name for r in results),
            results=[r.to_json() for r in results],
            ok=all(r.ok for r in results),
            severity="NOTICE" if all(r.ok for r in results) else "WARNING",
        )
        return results

    def _smoke_result(self, result: SmokeResult) -> None:
        self.emit(EventKind.SMOKE, result.describe(), result=result.to_json())
        self._check_stop()  # an interrupt between two checks is acted on before the next one

    def bake(self, state: RolloutState) -> Verdict:
        """Poll complete windows of this step until the judge decides (or max bake passes)."""
        self.current = state
        t = self.target
        period = self.config.analysis.window_seconds
        params = judge_params(self.target.rollout, self.config.analysis, state.extended)
        carried = Evidence.from_dict(dict(state.evidence)) if state.evidence else Evidence()
        served_from = state.served_at if state.served_at is not None else state.step_started
        start = first_window_start(served_from, period)
        failing_since: float | None = None  # reads refused since (a quota, an outage): missing samples
        while True:
            now = self.clock.now()
            end = last_complete_end(now, period, self.config.analysis.metric_delay_seconds)
            samples = []
            try:
                if end > start:
                    windows = self.metrics.revision_windows(
                        t.project, t.region, start, end, service=t.service, period=period, usage=False
                    )
                    samples = step_samples(
                        windows, t.service, state.candidate, state.stable, start, end, period, state.latency_threshold_ms
                    )
                self.refresh()  # fenced: a change by someone else (or an operator's rollback) stops the bake here
            except ApiError as error:
                # Not an infrastructure failure yet: the windows stay in Monitoring and the next good read
                # judges them all (a per-minute quota does not recover within one call's retries).
                failing_since = now if failing_since is None else failing_since
                if now - failing_since > READ_OUTAGE_BOUND_SECONDS:
                    raise
                self._warn(
                    f"read failed during the bake ({error}); a missing sample, not a verdict: the judge waits "
                    f"({_mmss(now - failing_since)} of the {_mmss(READ_OUTAGE_BOUND_SECONDS)} this console waits "
                    "before putting stable back, exit 3)"
                )
                self.renew_lease_if_due(state)
                self._sleep(max(self.poll_seconds, READ_RETRY_SECONDS))  # a per-minute quota: not sooner
                continue
            failing_since = None
            candidate = self.revisions.get(state.candidate)
            crash = None
            if candidate is not None and not candidate.ready:
                crash = f"{state.candidate} is not ready: {candidate.ready_message or 'Cloud Run reports it failing'}"
            elif candidate is not None and candidate.ready_message:
                crash = f"{state.candidate} is unhealthy: {candidate.ready_message}"
            baked = now - served_from
            verdict = judge_step(params, carried, samples, baked, health_failed=crash, step_started=served_from)
            self.emit(
                EventKind.BAKE,
                f"step {state.step + 1}/{len(state.steps)} at {state.percent} %: baked {_mmss(baked)} "
                f"(min {_mmss(params.min_bake_seconds)}, max {_mmss(params.max_bake_seconds)}), "
                f"{len(samples)} complete window{'' if len(samples) == 1 else 's'} — {verdict.decision}: "
                f"{verdict.reasons[0] if verdict.reasons else ''}",
                baked=baked,
                min_bake=params.min_bake_seconds,
                max_bake=params.max_bake_seconds,
                decision=verdict.decision,
                reasons=list(verdict.reasons),
                metrics=verdict.metrics,
                samples=len(samples),
            )
            if verdict.decision != "continue":
                self.emit(
                    EventKind.VERDICT,
                    f"step {state.step + 1} at {state.percent} %: {verdict.decision.upper()} — " + "; ".join(verdict.reasons),
                    decision=verdict.decision,
                    reasons=list(verdict.reasons),
                    metrics=verdict.metrics,
                )
                self.audit.record(
                    "verdict",
                    now,
                    revision=state.candidate,
                    message=f"step {state.step + 1} at {state.percent} %: {verdict.decision}",
                    rollout=state.id,
                    decision=verdict.decision,
                    reasons=list(verdict.reasons),
                    percent=state.percent,
                    driver=self.lease.holder,
                    severity="NOTICE" if verdict.decision == "pass" else "WARNING",
                )
                return verdict
            self.renew_lease_if_due(state)
            self._sleep(self.poll_seconds)

    # ------------------------------------------------------------- ending a rollout

    def promote(self, state: RolloutState) -> Outcome:
        now = self.clock.now()
        state = replace(state, phase=Phase.PROMOTED, percent=100, ended=now, reason="all steps passed",
                        ended_by=self.lease.holder)
        self.write(
            {state.candidate: 100},
            state=state,
            tags={self.config.rollout.stable_tag: state.candidate, "previous": state.stable},
            annotations={STABLE_ANNOTATION: state.candidate},
            hold_lease=False,
            reason=f"promoted {state.candidate} to 100 % (was {state.stable})",
            kind="promote",
            details={"drivers": list(state.drivers)},
        )
        message = f"promoted {state.candidate}: it serves 100 % of {self.target.key}; {state.stable} kept as tag 'previous'"
        self.emit(EventKind.PROMOTE, message)
        self.notifier.send(f"vinconsole: {message}")
        self.outcome = Outcome(
            OutcomeKind.PROMOTED, ExitCode.OK, message, state.candidate, state.stable, self.outcome.smoke,
            self.outcome.steps, self.service.served_split() if self.service else {},
        )
        return self.outcome

    def roll_back(
        self, state: RolloutState, reasons: list[str], why: RollbackWhy, verdict: Verdict | None = None
    ) -> Outcome:
        """Stable back to 100 %. Only a judged failure (smoke, analysis) marks the candidate failed: after
        an interrupt, an infrastructure error or an operator's rollback, a rerun of the same command
        rolls the same candidate out again."""
        now = self.clock.now()
        if verdict is None and state.phase == Phase.BAKING:
            self.outcome.steps.append(StepReport(state.percent, state.step_started, now, "fail", {}, reasons))
        judged = why in (RollbackWhy.SMOKE, RollbackWhy.ANALYSIS, RollbackWhy.INCONCLUSIVE)
        state = replace(
            state.with_step_result("fail", tuple(reasons), now) if state.phase == Phase.BAKING and judged else state,
            phase=Phase.ABORTED if why in (RollbackWhy.INTERRUPTED, RollbackWhy.INFRASTRUCTURE) else Phase.ROLLED_BACK,
            ended=now,
            reason="; ".join(reasons),
            ended_by=self.lease.holder,
        )
        assert self.service is not None
        annotations: dict[str, str | None] = {}
        if why.judged_failure:
            annotations[FAILED_ANNOTATION] = with_failed(self.service.annotations, state.candidate)
        self.write(
            {state.stable: 100},
            state=state,
            tags={self.config.rollout.candidate_tag: state.candidate, self.config.rollout.stable_tag: state.stable},
            annotations=annotations,
            hold_lease=False,
            reason=f"rolled back {state.candidate} ({why}): " + "; ".join(reasons),
            kind="rollback",
            details={
                "why": str(why),
                "reasons": reasons,
                # the candidate's bad traffic began with the step that failed (none if it never got any)
                "errors_started": state.step_started if state.percent else None,
                "drivers": list(state.drivers),
                "preempted": self.preempted,
            },
            interruptible=False,
        )
        message = f"rolled back {state.candidate}: {state.stable} serves 100 % — " + "; ".join(reasons)
        self.emit(EventKind.ROLLBACK, message, reasons=reasons)
        self.notifier.send(f"vinconsole: {self.target.key} {message}")
        self.outcome = Outcome(
            OutcomeKind.ROLLED_BACK, ExitCode.ROLLED_BACK, message, state.candidate, state.stable, self.outcome.smoke,
            self.outcome.steps, self.service.served_split(),
        )
        return self.outcome

    def _interrupted(self) -> Outcome:
        """Act on SIGINT/SIGTERM: before any traffic shift nothing is written; after, hold or roll back
        (without marking the candidate failed, so the same command rerun resumes or restarts it)."""
        state = self.state if self.rollout_id is not None else None
        served = self.service.served_split() if self.service else {}
        if state is None or not state.active or state.id != self.rollout_id or state.percent == 0:
            resume = (f" Rollout {state.id} of {state.candidate} is recorded at its smoke checks: rerun the same "
                      "command to resume it." if state is not None and state.active else "")
            self.outcome = Outcome(
                OutcomeKind.ABORTED, ExitCode.INTERRUPTED,
                f"interrupted before any traffic shift; nothing shifted: {describe_split(served)}.{resume}",
                state.candidate if state else None, state.stable if state else None, self.outcome.smoke,
                self.outcome.steps, served,
            )
            return self.outcome
        self.stop.clear()
        if self.on_interrupt == "hold":
            message = (
                f"interrupted; traffic held at {describe_split(served)}. The rollout is paused on the service: "
                "run `vinconsole --auto-promote` again to resume it, or `vinconsole rollback` to end it"
            )
            try:  # paused is a state on the service: every console shows it and the bake clock stops
                self.write(None, state=self._driving_state(state).paused(self.clock.now()), hold_lease=False,
                           reason=f"rollout {state.id} paused at {state.percent} %", kind="pause", interruptible=False)
            except (ServiceChanged, RolledBackByOperator) as stopped:
                return self._stopped(stopped)
            except VinconsoleError as error:
                message += f" (the pause could not be recorded on the service: {error})"
            self.emit(EventKind.HOLD, message)
            self.outcome = Outcome(OutcomeKind.ABORTED, ExitCode.INTERRUPTED, message, state.candidate, state.stable,
                                   self.outcome.smoke, self.outcome.steps, served)
            return self.outcome
        try:
            self.roll_back(state, ["interrupted (SIGINT/SIGTERM)"], RollbackWhy.INTERRUPTED)
        except VinconsoleError as error:
            served = self.service.served_split() if self.service else {}
            self.outcome = Outcome(OutcomeKind.ABORTED, ExitCode.INTERRUPTED,
                                   f"interrupted, and the rollback failed: {error}; traffic as last "
                                   f"read: {describe_split(served)}", state.candidate, state.stable,
                                   self.outcome.smoke, self.outcome.steps, served)
            return self.outcome
        self.outcome.exit_code = ExitCode.INTERRUPTED
        self.outcome.outcome = OutcomeKind.ABORTED
        self.outcome.message = (f"interrupted; {self.outcome.message}. {state.candidate} is not marked failed: "
                                "rerun the same command to roll it out again")
        return self.outcome

    def _driving_state(self, written: RolloutState) -> RolloutState:
        """The state this engine drives: the one last written, with what only memory holds (when the
        step was seen served) from the bake in progress."""
        live = self.current
        return live if live is not None and live.id == written.id else written

    def _stopped(self, error: ServiceChanged | RolledBackByOperator) -> Outcome:
        """Someone else changed the service (or rolled it back): nothing more is written by this engine."""
        state = read_rollout(error.fresh.annotations)
        kind = OutcomeKind.ROLLED_BACK if isinstance(error, RolledBackByOperator) else OutcomeKind.STOPPED
        self.outcome = Outcome(kind, error.exit_code, str(error), state.candidate if state else None,
                               state.stable if state else None, self.outcome.smoke, self.outcome.steps,
                               error.fresh.served_split())
        return self.outcome

    def _infrastructure_failure(self, error: VinconsoleError) -> Outcome:
        """API trouble past its retries: put stable back if we can, and say exactly what serves."""
        if isinstance(error, UsageError):
            self.outcome = Outcome(OutcomeKind.ABORTED, ExitCode.USAGE, str(error))
            return self.outcome
        if isinstance(error, (ServiceChanged, RolledBackByOperator)):
            return self._stopped(error)
        state = self.state if self.rollout_id is not None else None
        self.emit(EventKind.ERROR, str(error))
        if state is not None and state.active and state.id == self.rollout_id and state.percent and not self.fenced_out:
            try:
                self.roll_back(state, [f"infrastructure error: {error}"], RollbackWhy.INFRASTRUCTURE)
                self.outcome.exit_code = ExitCode.INFRASTRUCTURE
                self.outcome.outcome = OutcomeKind.ABORTED
                self.outcome.message = (f"{error}; traffic put back on stable: {describe_split(self.outcome.traffic)}; "
                                        f"{state.candidate} is not marked failed: rerun to roll it out again")
                return self.outcome
            except (ServiceChanged, RolledBackByOperator) as stopped:
                return self._stopped(stopped)
            except VinconsoleError as second:
                self.emit(EventKind.ERROR, f"could not put traffic back on stable: {second}")
        try:
            served = self.refresh().served_split() if not self.fenced_out else self.service.served_split()
            where = f"traffic as read now: {describe_split(served)}"
        except (ServiceChanged, RolledBackByOperator) as stopped:
            return self._stopped(stopped)
        except VinconsoleError:
            if self.service is None:
                served, where = {}, "nothing was changed (the service could not be read)"
            else:
                served = self.service.served_split()
                where = f"traffic as last read: {describe_split(served)} (the API cannot be read now)"
        resume = " The rollout state is on the service; rerun to resume." if state and state.active else ""
        self.outcome = Outcome(OutcomeKind.ABORTED, ExitCode.INFRASTRUCTURE, f"{error}; {where}.{resume}",
                               state.candidate if state else None, state.stable if state else None,
                               self.outcome.smoke, self.outcome.steps, served)
        return self.outcome

    # ------------------------------------------------- one action at a time (scripts, TUI)

    def plan_step(self) -> tuple[RolloutState | None, str]:
        """What `step` would do now, in words, without doing it."""
        self.refresh()
        state = self.state
        if state and state.active:
            if state.phase == "smoke":
                return state, f"run smoke checks on {state.candidate}, then send it {state.steps[0]} %"
            nxt = next((p for p in state.steps if p > state.percent), 100)
            return state, f"move {state.candidate} from {state.percent} % to {nxt} %"
        stable = self.stable_revision()
        candidate = self.pick_candidate(stable, None)
        if candidate is None:
            return None, f"nothing to step: {stable} serves 100 % and there is no newer ready revision"
        return None, f"run smoke checks on {candidate}, then send it {self.target.rollout.steps[0]} % (stable {stable})"

    def _action(self, body: Callable[[], Outcome], *, preempt: bool = False) -> Outcome:
        """One operator action under the lease. Usage errors and a lease held elsewhere are raised;
        API trouble is reported with the traffic as it stands; the lease goes when the action ends.
        `preempt`: the action takes the lease from a live holder (a rollback always wins)."""
        try:
            self.acquire(preempt=preempt)
            state = self.state
            if state is not None and state.active:
                self.rollout_id = state.id
            return body()
        except Interrupted:
            return self._interrupted()
        except VinconsoleError as error:
            if isinstance(error, (LeaseHeldError, UsageError)):
                raise
            return self._infrastructure_failure(error)
        finally:
            self.release()
            self._flush_audit()

    def _flush_audit(self) -> None:
        """Retry audit entries that could not be written; say loudly what is still missing."""
        if not self.audit.flush():
            self.emit(EventKind.ERROR, f"{len(self.audit.pending)} audit entr{'y' if len(self.audit.pending) == 1 else 'ies'} "
                      f"({', '.join(e.kind for e in self.audit.pending)}) could not be written to Cloud Logging: the "
                      "traffic changes are done, but `vinconsole history` will miss them; see the warnings above")

    def step(self, revision: str | None = None) -> Outcome:
        """Move the candidate to the next step (starting a rollout, smoke first, if none runs)."""

        def body() -> Outcome:
            state = self.state
            if not (state and state.active):
                state = self._start_or_resume(revision)
                if state is None:
                    return self.outcome
            state = state.driven_by(self.lease.holder)
            if state.phase == Phase.SMOKE:
                first = self._smoke_then_first_step(state)
                if isinstance(first, Outcome):
                    return first
                state = first
            else:
                nxt = next((i for i, p in enumerate(state.steps) if p > state.percent), len(state.steps) - 1)
                state = replace(state, phase=Phase.BAKING, step=nxt, percent=state.steps[nxt], step_started=self.clock.now())
                if state.percent >= 100:
                    return self.promote(state)
                state = self._write_step(state)
            message = f"{state.candidate} now serves {state.percent} % (step {state.step + 1}/{len(state.steps)})"
            self.outcome = Outcome(OutcomeKind.STEPPED, ExitCode.OK, message, state.candidate, state.stable,
                                   self.outcome.smoke, self.outcome.steps,
                                   self.service.served_split() if self.service else {})
            return self.outcome

        return self._action(body)

    def set_split(self, percent: int) -> Outcome:
        """A custom split: the active rollout's candidate gets `percent`, stable the rest."""

        def body() -> Outcome:
            state = self.state
            if not (state and state.active and state.phase != Phase.SMOKE):
                raise UsageError(f"{self.target.key}: no rollout past its smoke checks; step first")
            if not 1 <= percent <= 99:
                raise UsageError(f"a custom split gives the candidate 1..99 %, not {percent}")
            state = replace(state.driven_by(self.lease.holder), percent=percent, step_started=self.clock.now(),
                            phase=Phase.BAKING, served_at=None)
            self.write({state.stable: 100 - percent, state.candidate: percent}, state=state,
                       reason=f"custom split: {state.candidate} to {percent} %")
            self.outcome = Outcome(OutcomeKind.STEPPED, ExitCode.OK, f"{state.candidate} now serves {percent} %", state.candidate,
                                   state.stable, traffic=self.service.served_split() if self.service else {})
            return self.outcome

        return self._action(body)

    def promote_now(self) -> Outcome:
        """Send the candidate 100 % at once (the operator's decision, recorded as such)."""

        def body() -> Outcome:
            state = self.state
            if not (state and state.active):
                raise UsageError(f"{self.target.key}: no rollout in progress to promote")
            return self.promote(replace(state.driven_by(self.lease.holder), reason="promoted by the operator"))

        return self._action(body)

    def rollback_target(self, to: str | None) -> str:
        """Where a rollback goes: the named revision, the rollout's stable one, else the previous revision."""
        assert self.service is not None
        if to:
            return self.resolve_revision(to)
        serving = self.service.served_split()
        state = self.state
        if state is not None and (state.active or (state.phase == "promoted" and state.candidate in serving)):
            return state.stable
        recorded = self.service.annotations.get(STABLE_ANNOTATION)
        if recorded in self.revisions and serving.get(recorded, 0) < 100:
            return recorded
        newest_serving = max((self.revisions[r] for r in serving if r in self.revisions), key=lambda r: r.created, default=None)
        if newest_serving is not None:
            older = [r for r in self.revisions.values() if r.ready and r.created < newest_serving.created]
            if older:
                return max(older, key=lambda r: r.created).name
        raise UsageError(f"{self.target.key}: no earlier ready revision to roll back to; name one with --to REVISION")

    def plan_rollback(self, to: str | None = None) -> tuple[str, str]:
        """(target, what the confirmation says); 'nothing …' when the target already serves everyone."""
        self.refresh()
        target = self.rollback_target(to)
        serving = self.service.served_split()
        if serving == {target: 100}:
            return target, f"nothing to roll back: {target} already serves 100 %"
        plan = f"send 100 % to {target} (serving now: {describe_split(serving)})"
        newest = max((self.revisions[r].created for r in serving if r in self.revisions), default=None)
        if newest is not None and self.revisions[target].created > newest:
            plan += ("; it is newer than every serving revision, so this rolls forward with no smoke checks and "
                     "no judging (`vinconsole --auto-promote --revision` would check it)")
        return target, plan

    def rollback_now(
        self, to: str | None = None, reason: str = "rolled back by the operator", errors_started: float | None = None
    ) -> Outcome:
        """One-command rollback: 100 % to `to` (default: the stable revision). It always wins: it takes
        the lease from whoever drives (audited as such), and that driver stops at its next read or write
        without touching traffic, naming who rolled back.

        `errors_started` (when known, e.g. from the incident view) dates the incident for time to restore.
        """

        def body() -> Outcome:
            target = self.rollback_target(to)
            if not self.revisions[target].ready:
                raise UsageError(f"{target} is not ready; it cannot take traffic")
            state = self.state
            why = f"{reason} ({self.lease.holder})"
            if self.preempted:
                why = f"{reason}: {self.lease.holder} rolled back while {self.preempted} was driving"
            if state and state.active and target == state.stable:
                return self.roll_back(state.driven_by(self.lease.holder), [why], RollbackWhy.OPERATOR)
            before = self.service.served_split()
            candidate = state.candidate if state else None
            failed_now = [rev for rev, pct in before.items() if rev != target and pct]
            # the operator's decision about what is serving: it counts as failed (a rollout's candidate
            # rolled back mid-rollout is not marked, so that rerunning the rollout retries it)
            annotations: dict[str, str | None] = {STABLE_ANNOTATION: target}
            if failed_now and not (state and state.active):
                annotations[FAILED_ANNOTATION] = with_failed(self.service.annotations, failed_now[0])
            new_state = None
            if state is not None:
                new_state = replace(state, phase=Phase.ROLLED_BACK, ended=self.clock.now(), reason=why,
                                    stable=target, percent=0, ended_by=self.lease.holder)
            self.write({target: 100}, state=new_state, annotations=annotations, hold_lease=False,
                       tags={self.config.rollout.stable_tag: target},
                       reason=f"rolled back to {target} ({why}); was {describe_split(before)}", kind="rollback",
                       details={"why": "operator", "reasons": [why], "errors_started": errors_started,
                                "rolled_back_from": failed_now[0] if failed_now else None,
                                "preempted": self.preempted},
                       interruptible=False)
            message = f"{target} serves 100 % of {self.target.key} (was {describe_split(before)})"
            self.emit(EventKind.ROLLBACK, message)
            self.notifier.send(f"vinconsole: rolled back {self.target.key}: {message}")
            self.outcome = Outcome(OutcomeKind.ROLLED_BACK, ExitCode.OK, message, candidate, target,
                                   traffic=self.service.served_split())
            return self.outcome

        for _ in range(ROLLBACK_ATTEMPTS):  # a driver's write may land between our read and our write: read again
            outcome = self._action(body, preempt=True)
            if outcome.outcome != OutcomeKind.STOPPED:
                return outcome
            self.fenced_out = False
        return outcome

    # --------------------------------------------------------------- --image deploys

    def deploy(self, image: str) -> str:
        """Deploy `image` as a new revision with no traffic; return its name once ready."""
        self.refresh()  # fenced
        assert self.service is not None
        before = set(self.revisions)
        split = self.service.written_split()
        self.service = self.run.deploy_image(self.service, image, pin=split)
        self.fence = Fence.of(self.service)  # this engine's own write
        deadline = self.clock.now() + 600
        while True:
            self.refresh()
            new = [r for r in self.revisions.values() if r.name not in before]
            ready = [r for r in new if r.ready]
            if ready:
                revision = max(ready, key=lambda r: r.created).name
                self.emit(EventKind.TRAFFIC, f"deployed {image} as {revision} with no traffic")
                self.audit.record("deploy", self.clock.now(), revision=revision, message=f"deployed {image} as {revision}",
                                  image=image, before=split_json(split), after=split_json(self.service.served_split()))
                return revision
            if self.clock.now() > deadline:
                raise VerificationError(f"{image} did not become a ready revision within 10 minutes")
            self._sleep(5)


def iso_time(at: float) -> str:
    """When, as an operator reads it in a message ('' when unknown)."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def _mmss(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
