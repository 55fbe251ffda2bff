"""The rollout engine: smoke-check, step traffic, judge each step, promote or roll back.

Headless (`--auto-promote`) and the terminal UI drive this same code. Every traffic change is
conflict-checked and verified, carries the rollout state in the service's annotations, and is
written to the audit log; the caller is told of everything through `Event`s.
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
from console.samples import first_window_start, judge_params, last_complete_end, slow_threshold, step_samples
from console.smoke import SmokeResult, run_smoke
from console.state import (
    FAILED_ANNOTATION,
    STABLE_ANNOTATION,
    RolloutState,
    failed_candidates,
    lease_blocks,
    read_lease,
    read_rollout,
    with_failed,
)

CONFLICT_RETRIES = 6


class Interrupted(Exception):
    """SIGINT/SIGTERM (or the operator) asked the rollout to stop."""


class LeaseLost(VinconsoleError):
    pass


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # start resume smoke traffic bake verdict promote rollback hold warn error noop
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
    outcome: str  # promoted | rolled_back | aborted | noop
    exit_code: int
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
        self.outcome = Outcome("aborted", 3, "")

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
        self.emit("warn", message)

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
        t = self.target
        self.service = self.run.get_service(t.project, t.region, t.service)
        self.revisions = {r.name: r for r in self.run.list_revisions(t.project, t.region, t.service)}
        return self.service

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
        split: Mapping[str, int],
        *,
        state: RolloutState | None,
        tags: Mapping[str, str] | None = None,
        annotations: Mapping[str, str | None] | None = None,
        hold_lease: bool = True,
        reason: str,
        kind: str = "traffic",
        audit: bool = True,
        details: Mapping[str, Any] | None = None,
    ) -> ServiceState:
        """One conflict-safe, verified traffic write carrying the rollout state and the lease."""
        assert self.service is not None
        before = self.service.served_split()
        wanted_annotations: dict[str, str | None] = dict(annotations or {})
        if state is not None:
            wanted_annotations[ROLLOUT_ANNOTATION] = state.to_annotation()
        if hold_lease:
            self.lease = replace(self.lease, expires=self.clock.now() + self.config.rollout.lease_seconds)
            wanted_annotations[LEASE_ANNOTATION] = self.lease.to_annotation()
        else:
            wanted_annotations[LEASE_ANNOTATION] = None
        traffic = self._traffic(split, tags or {})
        for attempt in range(CONFLICT_RETRIES):
            try:
                self.service = self.run.write_traffic(self.service, traffic, wanted_annotations, revisions=self.revisions)
                self.holding = hold_lease
                break
            except ConflictError as conflict:
                self._check_still_ours(conflict)
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                if self.stop.wait(min(2.0, 0.1 * 2**attempt)):
                    raise Interrupted()
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
            before=split_json(before),
            after=split_json(after),
            driver=self.lease.holder,
            candidate_created=state.candidate_created if state else None,
            **dict(details or {}),
        )
        if after == before:  # a state or lease write: say so rather than announce a traffic change
            self.emit("traffic", f"{reason} (traffic unchanged: {describe_split(after)})", before=before, after=after)
        else:
            self.emit("traffic", f"traffic now {describe_split(after)} — {reason}", before=before, after=after)
        return self.service

    def _check_still_ours(self, conflict: ConflictError) -> None:
        """After a conflict: retry only if nobody else took the service or moved its traffic."""
        assert self.service is not None
        mine = self.service
        fresh = self.refresh()
        lease = read_lease(fresh.annotations)
        if lease and not lease.same_holder(self.lease) and lease.expires > self.clock.now():
            raise LeaseLost(
                f"{self.target.key}: {lease.holder} took the service over; it now serves "
                f"{describe_split(fresh.served_split())}. This console stops here."
            )
        if fresh.written_split() != mine.written_split() or fresh.annotations.get(ROLLOUT_ANNOTATION) != mine.annotations.get(
            ROLLOUT_ANNOTATION
        ):
            raise ConflictError(
                conflict.call,
                conflict.code,
                f"somebody else changed {self.target.service} during the rollout; it now serves "
                f"{describe_split(fresh.served_split())}",
                "look at it with `vinconsole status` and decide; this console stops here",
            )
        self.emit("warn", f"write conflicted ({conflict.code}) but nothing else changed; retrying")

    # ------------------------------------------------------------------------ the lease

    def acquire(self) -> None:
        """Take the service's lease, or raise LeaseHeldError naming the holder."""
        service = self.refresh()
        now = self.clock.now()
        lease = read_lease(service.annotations)
        if lease_blocks(lease, self.lease, now, pid_alive(lease.pid) if lease else False):
            assert lease is not None
            raise LeaseHeldError(lease.holder, lease.expires - now, self.target.key)
        if lease and not lease.same_holder(self.lease) and lease.expires > now:
            self.emit("warn", f"taking over the lease of {lease.holder}: that process no longer runs")
        self.write(
            service.served_split() or {},
            state=None,
            annotations={},
            reason="lease taken",
            kind="lease",
            tags={},
        )

    def renew_lease_if_due(self) -> None:
        if self.lease.expires - self.clock.now() < self.config.rollout.lease_seconds / 2:
            assert self.service is not None
            self.write(self.service.served_split(), state=self.state, reason="lease renewed", kind="lease", audit=False)

    def release(self) -> None:
        """Drop our lease if we still hold it (best effort: it expires anyway)."""
        if not self.holding:
            return
        try:
            service = self.refresh()
            lease = read_lease(service.annotations)
            if lease and lease.same_holder(self.lease):
                self.write(service.served_split(), state=None, hold_lease=False, reason="lease released", kind="lease")
        except VinconsoleError as error:
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

    def _start_or_resume(self, revision: str | None) -> RolloutState | None:
        assert self.service is not None
        state = self.state
        if state and state.active and (revision is None or revision == state.candidate):
            self.emit(
                "resume",
                f"resuming rollout {state.id} of {state.candidate} at {state.percent} % ({state.phase}), "
                f"started by {state.driver}",
            )
            self.outcome.steps = [
                StepReport(h.percent, h.started, h.ended, h.verdict, {}, list(h.reasons)) for h in state.history
            ]
            return replace(state, driver=self.lease.holder)  # written with the next step or lease renewal
        stable = self.stable_revision()
        candidate = self.pick_candidate(stable, revision)
        if candidate is None:
            message = (
                f"nothing to do: {stable} serves 100 % and there is no newer ready revision "
                "that has not already failed a rollout"
            )
            self.outcome = Outcome("noop", 0, message, None, stable, traffic=self.service.served_split())
            self.emit("noop", message)
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
        )
        self.write(
            {stable: 100},
            state=state,
            tags={self.config.rollout.candidate_tag: candidate, self.config.rollout.stable_tag: stable},
            annotations={STABLE_ANNOTATION: stable},
            reason=f"rollout {state.id} started: {candidate} (candidate) against {stable} (stable)",
            kind="start",
        )
        self.emit("start", f"rolling out {candidate} against stable {stable}: steps {' → '.join(map(str, steps))} %")
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
        if state.phase == "smoke":
            first = self._smoke_then_first_step(state)
            if isinstance(first, Outcome):
                return first
            state = first
        while True:
            if state.percent >= 100:
                return self._confirm_full(state)
            verdict = self.bake(state)
            now = self.clock.now()
            report = self._step_report(state, verdict, now)
            if verdict.decision == "fail":
                return self.roll_back(state, list(verdict.reasons), "analysis", verdict=verdict)
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
                    state, ["not enough evidence to promote (fail safe): " + "; ".join(verdict.reasons)], "inconclusive",
                    verdict=verdict,
                )
            # pass: re-check health before more users see the candidate
            results = self.smoke(state.candidate)
            self.outcome.smoke.extend(results)
            failed = [r for r in results if not r.ok]
            if failed:
                return self.roll_back(state, [f"smoke check {r.name} failed after step: {r.error}" for r in failed], "smoke")
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
            self._write_step(state)

    def _smoke_then_first_step(self, state: RolloutState) -> RolloutState | Outcome:
        """Smoke-check the candidate behind its tag; only if every check passes, send it the first step."""
        results = self.smoke(state.candidate)
        self.outcome.smoke = results
        failed = [r for r in results if not r.ok]
        if failed:
            return self.roll_back(state, [f"smoke check {r.name} failed: {r.error}" for r in failed], "smoke")
        state = replace(state, phase="baking", step=0, percent=state.steps[0], step_started=self.clock.now())
        self._write_step(state)
        return state

    def _confirm_full(self, state: RolloutState) -> Outcome:
        """The last step: the candidate serves everyone; check its health once more, then promote."""
        results = self.smoke(state.candidate)
        self.outcome.smoke.extend(results)
        failed = [r for r in results if not r.ok]
        if failed:
            return self.roll_back(state, [f"smoke check {r.name} failed at 100 %: {r.error}" for r in failed], "smoke")
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

    def _write_step(self, state: RolloutState) -> None:
        self.write(
            {state.stable: 100 - state.percent, state.candidate: state.percent},
            state=state,
            reason=f"step {state.step + 1}/{len(state.steps)}: {state.candidate} to {state.percent} %",
        )

    def _step_report(self, state: RolloutState, verdict: Verdict, now: float) -> StepReport:
        report = StepReport(
            percent=state.percent,
            started=state.step_started,
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
            self.emit("smoke", "no smoke checks configured for this service", phase="smoke")
            return []
        service = self.refresh()
        uri = next(
            (s.uri for s in service.traffic_statuses if s.revision == candidate and s.tag and s.uri), None
        )
        if uri is None:
            return [SmokeResult("tag-url", False, None, None, f"{candidate} has no tag URL to check")]
        self.emit("smoke", f"smoke checks against {uri}")
        results = run_smoke(
            uri,
            checks,
            authenticate=not self.run.clients.emulator_host,
            on_result=lambda r: self.emit("smoke", r.describe(), result=r.to_json()),
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

    def bake(self, state: RolloutState) -> Verdict:
        """Poll complete windows of this step until the judge decides (or max bake passes)."""
        t = self.target
        period = self.config.analysis.window_seconds
        params = judge_params(self.target.rollout, self.config.analysis, state.extended)
        carried = Evidence.from_dict(dict(state.evidence)) if state.evidence else Evidence()
        start = first_window_start(state.step_started, period)
        while True:
            now = self.clock.now()
            end = last_complete_end(now, period, self.config.analysis.metric_delay_seconds)
            samples = []
            if end > start:
                windows = self.metrics.revision_windows(
                    t.project, t.region, start, end, service=t.service, period=period, usage=False
                )
                samples = step_samples(
                    windows, t.service, state.candidate, state.stable, start, end, period, state.latency_threshold_ms
                )
            self.revisions = {r.name: r for r in self.run.list_revisions(t.project, t.region, t.service)}
            candidate = self.revisions.get(state.candidate)
            crash = None
            if candidate is not None and not candidate.ready:
                crash = f"{state.candidate} is not ready: {candidate.ready_message or 'Cloud Run reports it failing'}"
            elif candidate is not None and candidate.ready_message:
                crash = f"{state.candidate} is unhealthy: {candidate.ready_message}"
            baked = now - state.step_started
            verdict = judge_step(params, carried, samples, baked, health_failed=crash, step_started=state.step_started)
            self.emit(
                "bake",
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
                    "verdict",
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
                    severity="NOTICE" if verdict.decision == "pass" else "WARNING",
                )
                return verdict
            self.renew_lease_if_due()
            self._sleep(self.poll_seconds)

    # ------------------------------------------------------------- ending a rollout

    def promote(self, state: RolloutState) -> Outcome:
        now = self.clock.now()
        state = replace(state, phase="promoted", percent=100, ended=now, reason="all steps passed")
        self.write(
            {state.candidate: 100},
            state=state,
            tags={self.config.rollout.stable_tag: state.candidate, "previous": state.stable},
            annotations={STABLE_ANNOTATION: state.candidate},
            hold_lease=False,
            reason=f"promoted {state.candidate} to 100 % (was {state.stable})",
            kind="promote",
        )
        message = f"promoted {state.candidate}: it serves 100 % of {self.target.key}; {state.stable} kept as tag 'previous'"
        self.emit("promote", message)
        self.notifier.send(f"vinconsole: {message}")
        self.outcome = Outcome(
            "promoted", 0, message, state.candidate, state.stable, self.outcome.smoke, self.outcome.steps,
            self.service.served_split() if self.service else {},
        )
        return self.outcome

    def roll_back(self, state: RolloutState, reasons: list[str], why: str, verdict: Verdict | None = None) -> Outcome:
        now = self.clock.now()
        if verdict is None and state.phase == "baking":
            self.outcome.steps.append(StepReport(state.percent, state.step_started, now, "fail", {}, reasons))
        state = replace(
            state.with_step_result("fail", tuple(reasons), now) if state.phase == "baking" else state,
            phase="rolled_back",
            ended=now,
            reason="; ".join(reasons),
        )
        assert self.service is not None
        self.write(
            {state.stable: 100},
            state=state,
            tags={self.config.rollout.candidate_tag: state.candidate, self.config.rollout.stable_tag: state.stable},
            annotations={FAILED_ANNOTATION: with_failed(self.service.annotations, state.candidate)},
            hold_lease=False,
            reason=f"rolled back {state.candidate} ({why}): " + "; ".join(reasons),
            kind="rollback",
            details={
                "why": why,
                "reasons": reasons,
                # the candidate's bad traffic began with the step that failed (none if it never got any)
                "errors_started": state.step_started if state.percent else None,
            },
        )
        message = f"rolled back {state.candidate}: {state.stable} serves 100 % — " + "; ".join(reasons)
        self.emit("rollback", message, reasons=reasons)
        self.notifier.send(f"vinconsole: {self.target.key} {message}")
        self.outcome = Outcome(
            "rolled_back", 1, message, state.candidate, state.stable, self.outcome.smoke, self.outcome.steps,
            self.service.served_split(),
        )
        return self.outcome

    def _interrupted(self) -> Outcome:
        state = self.state
        if state is None or not state.active:
            served = self.service.served_split() if self.service else {}
            self.outcome = Outcome("aborted", 130, f"interrupted; traffic unchanged: {describe_split(served)}",
                                   traffic=served)
            return self.outcome
        self.stop.clear()
        if self.on_interrupt == "hold":
            served = self.service.served_split() if self.service else {}
            message = (
                f"interrupted; traffic held at {describe_split(served)}. The rollout state is on the service: "
                "run `vinconsole --auto-promote` again to resume, or `vinconsole rollback` to end it"
            )
            self.emit("hold", message)
            self.outcome = Outcome("aborted", 130, message, state.candidate, state.stable, self.outcome.smoke,
                                   self.outcome.steps, served)
            return self.outcome
        try:
            self.roll_back(state, ["interrupted by the operator (SIGINT/SIGTERM)"], "interrupted")
        except VinconsoleError as error:
            served = self.service.served_split() if self.service else {}
            self.outcome = Outcome("aborted", 130, f"interrupted, and the rollback failed: {error}; traffic as last "
                                   f"read: {describe_split(served)}", state.candidate, state.stable,
                                   self.outcome.smoke, self.outcome.steps, served)
            return self.outcome
        self.outcome.exit_code = 130
        self.outcome.outcome = "aborted"
        self.outcome.message = "interrupted; " + self.outcome.message
        return self.outcome

    def _infrastructure_failure(self, error: VinconsoleError) -> Outcome:
        """API trouble past its retries: put stable back if we can, and say exactly what serves."""
        if isinstance(error, UsageError):
            self.outcome = Outcome("aborted", 2, str(error))
            return self.outcome
        state = self.state
        self.emit("error", str(error))
        if state is not None and state.active and not isinstance(error, (LeaseLost, ConflictError)):
            try:
                self.refresh()
                self.roll_back(state, [f"infrastructure error: {error}"], "infrastructure")
                self.outcome.exit_code = 3
                self.outcome.outcome = "aborted"
                self.outcome.message = f"{error}; traffic put back on stable: {describe_split(self.outcome.traffic)}"
                return self.outcome
            except VinconsoleError as second:
                self.emit("error", f"could not put traffic back on stable: {second}")
        try:
            served = self.refresh().served_split()
            where = f"traffic as read now: {describe_split(served)}"
        except VinconsoleError:
            if self.service is None:
                served, where = {}, "nothing was changed (the service could not be read)"
            else:
                served = self.service.served_split()
                where = f"traffic as last read: {describe_split(served)} (the API cannot be read now)"
        resume = " The rollout state is on the service; rerun to resume." if state and state.active else ""
        self.outcome = Outcome("aborted", 3, f"{error}; {where}.{resume}", state.candidate if state else None,
                               state.stable if state else None, self.outcome.smoke, self.outcome.steps, served)
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

    def _action(self, body: Callable[[], Outcome]) -> Outcome:
        """One operator action under the lease. Usage errors and a lease held elsewhere are raised;
        API trouble is reported with the traffic as it stands; the lease goes when the action ends."""
        try:
            self.acquire()
            return body()
        except VinconsoleError as error:
            if isinstance(error, (LeaseHeldError, UsageError)):
                raise
            return self._infrastructure_failure(error)
        finally:
            self.release()

    def step(self, revision: str | None = None) -> Outcome:
        """Move the candidate to the next step (starting a rollout, smoke first, if none runs)."""

        def body() -> Outcome:
            state = self.state
            if not (state and state.active):
                state = self._start_or_resume(revision)
                if state is None:
                    return self.outcome
            if state.phase == "smoke":
                first = self._smoke_then_first_step(state)
                if isinstance(first, Outcome):
                    return first
                state = first
            else:
                nxt = next((i for i, p in enumerate(state.steps) if p > state.percent), len(state.steps) - 1)
                state = replace(state, phase="baking", step=nxt, percent=state.steps[nxt], step_started=self.clock.now())
                if state.percent >= 100:
                    return self.promote(state)
                self._write_step(state)
            message = f"{state.candidate} now serves {state.percent} % (step {state.step + 1}/{len(state.steps)})"
            self.outcome = Outcome("stepped", 0, message, state.candidate, state.stable, self.outcome.smoke,
                                   self.outcome.steps, self.service.served_split() if self.service else {})
            return self.outcome

        return self._action(body)

    def set_split(self, percent: int) -> Outcome:
        """A custom split: the active rollout's candidate gets `percent`, stable the rest."""

        def body() -> Outcome:
            state = self.state
            if not (state and state.active and state.phase != "smoke"):
                raise UsageError(f"{self.target.key}: no rollout past its smoke checks; step first")
            if not 1 <= percent <= 99:
                raise UsageError(f"a custom split gives the candidate 1..99 %, not {percent}")
            state = replace(state, percent=percent, step_started=self.clock.now(), phase="baking")
            self.write({state.stable: 100 - percent, state.candidate: percent}, state=state,
                       reason=f"custom split: {state.candidate} to {percent} %")
            self.outcome = Outcome("stepped", 0, f"{state.candidate} now serves {percent} %", state.candidate,
                                   state.stable, traffic=self.service.served_split() if self.service else {})
            return self.outcome

        return self._action(body)

    def promote_now(self) -> Outcome:
        """Send the candidate 100 % at once (the operator's decision, recorded as such)."""

        def body() -> Outcome:
            state = self.state
            if not (state and state.active):
                raise UsageError(f"{self.target.key}: no rollout in progress to promote")
            return self.promote(replace(state, reason="promoted by the operator"))

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
        """One-command rollback: 100 % to `to` (default: the stable revision).

        `errors_started` (when known, e.g. from the incident view) dates the incident for time to restore.
        """

        def body() -> Outcome:
            target = self.rollback_target(to)
            if not self.revisions[target].ready:
                raise UsageError(f"{target} is not ready; it cannot take traffic")
            state = self.state
            if state and state.active and target == state.stable:
                return self.roll_back(state, [reason], "operator")
            before = self.service.served_split()
            candidate = state.candidate if state else None
            failed_now = [rev for rev, pct in before.items() if rev != target and pct]
            annotations: dict[str, str | None] = {STABLE_ANNOTATION: target}
            if failed_now:
                annotations[FAILED_ANNOTATION] = with_failed(self.service.annotations, failed_now[0])
            new_state = None
            if state is not None:
                new_state = replace(state, phase="rolled_back", ended=self.clock.now(), reason=reason,
                                    stable=target, percent=0)
            self.write({target: 100}, state=new_state, annotations=annotations, hold_lease=False,
                       tags={self.config.rollout.stable_tag: target},
                       reason=f"rolled back to {target} ({reason}); was {describe_split(before)}", kind="rollback",
                       details={"why": "operator", "reasons": [reason], "errors_started": errors_started,
                                "rolled_back_from": failed_now[0] if failed_now else None})
            message = f"{target} serves 100 % of {self.target.key} (was {describe_split(before)})"
            self.emit("rollback", message)
            self.notifier.send(f"vinconsole: rolled back {self.target.key}: {message}")
            self.outcome = Outcome("rolled_back", 0, message, candidate, target, traffic=self.service.served_split())
            return self.outcome

        return self._action(body)

    # --------------------------------------------------------------- --image deploys

    def deploy(self, image: str) -> str:
        """Deploy `image` as a new revision with no traffic; return its name once ready."""
        assert self.service is not None
        before = set(self.revisions)
        split = self.service.served_split()
        self.service = self.run.deploy_image(self.service, image, pin=split)
        deadline = self.clock.now() + 600
        while True:
            self.refresh()
            new = [r for r in self.revisions.values() if r.name not in before]
            ready = [r for r in new if r.ready]
            if ready:
                revision = max(ready, key=lambda r: r.created).name
                self.emit("traffic", f"deployed {image} as {revision} with no traffic")
                self.audit.record("deploy", self.clock.now(), revision=revision, message=f"deployed {image} as {revision}",
                                  image=image, before=split_json(split), after=split_json(self.service.served_split()))
                return revision
            if self.clock.now() > deadline:
                raise VerificationError(f"{image} did not become a ready revision within 10 minutes")
            self._sleep(5)


def _mmss(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
