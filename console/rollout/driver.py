"""The rollout driver: start or resume, smoke-check, step, wait until served, bake and judge, then
promote or roll back; interrupts, infrastructure errors and someone else's changes end it safely."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from console.audit import split_json
from console.errors import ApiError, LeaseHeldError, UnavailableError, UsageError, VerificationError, VinconsoleError
from console.judge import Evidence, InconclusiveAction, Verdict, inconclusive_action, judge_step, plan_exposure
from console.model import describe_split
from console.rollout import choice
from console.rollout.events import Interrupted, Outcome, StepReport, iso_time
from console.rollout.fence import Fence, RolledBackByOperator, ServiceChanged
from console.rollout.outcomes import EventKind, ExitCode, OutcomeKind, RollbackWhy
from console.rollout.writer import SERVE_BOUND_SECONDS, FencedWriter
from console.samples import first_window_start, judge_params, last_complete_end, slow_threshold
from console.smoke import SmokeResult, run_smoke
from console.sources import SampleSource, StepView, sample_source
from console.state import FAILED_ANNOTATION, STABLE_ANNOTATION, Phase, RolloutState, read_rollout, with_failed
from console.units import mmss

# During a bake, reads refused for this long (clock seconds) end the rollout as an infrastructure
# failure (stable put back, exit 3); until then each refused read is a missing sample and the judge
# waits: Monitoring keeps the windows, so the next good read judges them all.
READ_OUTAGE_BOUND_SECONDS = 600.0
READ_RETRY_SECONDS = 60.0  # the next read after a refused one (per-minute quotas)
SYSTEM_LOG_POLL_SECONDS = 20.0  # clock seconds between reads of Cloud Run's system log during a bake
SYSTEM_LOG_MIN_REAL_SECONDS = 5.0  # ... and real seconds: at most 12 ListLogEntries a minute on any clock


class RolloutDriver(FencedWriter):
    """Drives a rollout of one service to its end (`auto_promote`)."""

    sample_source: SampleSource | None = None  # built at a rollout's first bake ([analysis] source)
    source_rollout: str | None = None  # the rollout it was built for: a source's fallback is per rollout
    source_fallback: str | None = None  # the fallback reason already said
    step_source: str | None = None  # where the step being judged gets its counts
    _system_log_read: tuple[float, float, list[Any]] | None = None  # (step started, read at, entries)

    # ------------------------------------------------- choosing (pure: console.rollout.choice)

    def stable_revision(self) -> str:
        assert self.service is not None
        return choice.stable_revision(self.service, self.target.key)

    def resolve_revision(self, name: str) -> str:
        return choice.resolve_revision(self.revisions, self.target.service, self.target.key, name)

    def pick_candidate(self, stable: str, explicit: str | None) -> str | None:
        assert self.service is not None
        return choice.pick_candidate(self.service, self.revisions, stable, explicit, self.target.key)

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
        rollout = self.target.rollout
        plan = plan_exposure(rollout.steps, self._observed_rate(), rollout.max_bake_seconds,
                             self.config.analysis.min_requests)
        steps = plan.steps
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
        self.emit(EventKind.START,
                  f"rolling out {candidate} against stable {stable}: steps {' → '.join(map(str, steps))} % ({plan.reason})")
        self.notifier.send(f"vinconsole: rolling out {candidate} to {self.target.key} (stable {stable}) — {self.lease.holder}")
        return state

    def _observed_rate(self) -> float | None:
        """The service's request rate over the last complete hour (req/s), for the exposure plan; None if unknown."""
        t = self.target
        end = (self.clock.now() // 3600) * 3600
        try:
            windows = self.metrics.revision_windows(
                t.project, t.region, end - 3600, end, service=t.service, period=3600, latency=False, usage=False
            )
        except ApiError as error:
            self._warn(f"no request rate for the last hour ({error}); keeping the configured steps")
            return None
        return sum(w.requests for (svc, _), by_end in windows.items() if svc == t.service for w in by_end.values()) / 3600

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
                action = inconclusive_action(self.target.rollout.on_inconclusive, state.extended)
                if action is InconclusiveAction.HOLD:
                    return self._hold(state, verdict)
                if action is InconclusiveAction.EXTEND:
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

    def _hold(self, state: RolloutState, verdict: Verdict) -> Outcome:
        """Not enough evidence either way: keep the split (exit 5) rather than read low traffic as a regression."""
        served = self.service.served_split() if self.service else {}
        message = (
            f"held: not enough evidence at {state.percent} % — {'; '.join(verdict.reasons) or 'no decision'}. "
            f"Traffic stays at {describe_split(served)}; the rollout state is on the service: run `vinconsole "
            "--auto-promote` again to judge the traffic served meanwhile, `vinconsole promote` or `vinconsole rollback` "
            '(set rollout.on_inconclusive = "rollback" to roll back instead)'
        )
        self.emit(EventKind.HOLD, message)
        self.outcome = Outcome(OutcomeKind.HELD, ExitCode.HELD, message, state.candidate, state.stable,
                               self.outcome.smoke, self.outcome.steps, served)
        return self.outcome

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
            source=self.step_source,
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
        self.emit(EventKind.SMOKE, f"smoke checks against {uri}", checks_url=uri)
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
        """Poll the step's samples (request log or Monitoring, console.sources) from the moment the step
        was served until the judge decides (or max bake passes)."""
        self.current = state
        t = self.target
        params = judge_params(self.target.rollout, self.config.analysis, state.extended)
        carried = Evidence.from_dict(dict(state.evidence)) if state.evidence else Evidence()
        served_from = state.served_at if state.served_at is not None else state.step_started
        if self.sample_source is None or self.source_rollout != state.id:
            self.sample_source = sample_source(self.config, t, self.run.clients, self.clock, self.metrics)
            self.source_rollout, self.source_fallback = state.id, None
        step = StepView(state.candidate, state.stable, served_from, state.latency_threshold_ms)
        failing_since: float | None = None  # reads refused since (a quota, an outage): missing samples
        while True:
            now = self.clock.now()
            try:
                reading = self.sample_source.read(step, now)
                self.refresh()  # fenced: a change by someone else (or an operator's rollback) stops the bake here
            except ApiError as error:
                # Not an infrastructure failure yet: the windows stay in Monitoring and the next good read
                # judges them all (a per-minute quota does not recover within one call's retries).
                failing_since = now if failing_since is None else failing_since
                if now - failing_since > READ_OUTAGE_BOUND_SECONDS:
                    raise
                self._warn(
                    f"read failed during the bake ({error}); a missing sample, not a verdict: the judge waits "
                    f"({mmss(now - failing_since)} of the {mmss(READ_OUTAGE_BOUND_SECONDS)} this console waits "
                    "before putting stable back, exit 3)"
                )
                self.renew_lease_if_due(state)
                self._sleep(max(self.poll_seconds, READ_RETRY_SECONDS))  # a per-minute quota: not sooner
                continue
            failing_since = None
            samples = reading.samples
            if reading.fallback is not None and reading.fallback != self.source_fallback:
                self.source_fallback = reading.fallback
                self.emit(EventKind.WARN, f"judging on Cloud Monitoring, not the request log: {reading.fallback}",
                          source=str(reading.source), fallback=reading.fallback)
            self.step_source = str(reading.source)
            params = replace(params, min_bake_seconds=reading.min_bake_seconds)
            candidate = self.revisions.get(state.candidate)
            crash = None
            if candidate is not None and not candidate.ready:
                crash = f"{state.candidate} is not ready: {candidate.ready_message or 'Cloud Run reports it failing'}"
            elif candidate is not None and candidate.ready_message:
                crash = f"{state.candidate} is unhealthy: {candidate.ready_message}"
            baked = now - served_from
            verdict = judge_step(params, carried, samples, baked, health_failed=crash, step_started=served_from)
            verdict = self._judge_saturation(state, served_from, verdict, now)
            self.emit(
                EventKind.BAKE,
                f"step {state.step + 1}/{len(state.steps)} at {state.percent} %: baked {mmss(baked)} "
                f"(min {mmss(params.min_bake_seconds)}, max {mmss(params.max_bake_seconds)}), "
                f"{reading.describe(now)} — {verdict.decision}: "
                f"{verdict.reasons[0] if verdict.reasons else ''}",
                baked=baked,
                min_bake=params.min_bake_seconds,
                max_bake=params.max_bake_seconds,
                decision=verdict.decision,
                reasons=list(verdict.reasons),
                metrics=verdict.metrics,
                samples=len(samples),
                source=str(reading.source),
                data_until=reading.data_until,
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
            self._sleep(min(self.poll_seconds, reading.poll_seconds))

    def _system_log(self, state: RolloutState, since: float, now: float, force: bool) -> list[Any]:
        """Cloud Run's system log for the service since the step was served, read again at most every
        SYSTEM_LOG_POLL_SECONDS of clock time and never more than once every few real seconds (the
        project's ListLogEntries quota is shared with the request-log source and every reader); a
        read refused for quota or unavailable keeps the last one: a missing reading, not a failure."""
        from console.gcp.logs import system_log_entries

        t = self.target
        last = self._system_log_read
        read_at, entries = (last[1], last[2]) if last is not None and last[0] == since else (None, [])
        every = max(SYSTEM_LOG_POLL_SECONDS, self.clock.scale * SYSTEM_LOG_MIN_REAL_SECONDS)
        if read_at is None or force or now - read_at >= every:
            try:
                entries = system_log_entries(self.logs, t.project, t.region, since, now, service=t.service)
                read_at = now
            except UnavailableError as error:
                self._warn(f"system log not read this time ({error}); judging out-of-memory kills on the last read")
        if read_at is not None:
            self._system_log_read = (since, read_at, entries)
        return entries

    def _judge_saturation(self, state: RolloutState, since: float, verdict: Verdict, now: float) -> Verdict:
        """The saturation guardrails (console/saturation.py) over this step: an out-of-memory kill or a
        crash of the candidate while stable has none fails it, with Cloud Run's log line. When the step
        is decided: memory p95 over `analysis.memory_warning_percent` is a warning, and the cold-start
        share is reported beside stable's (five ListTimeSeries per decided step; a step the request log
        decided before Monitoring's first window counts starts in the system log instead)."""
        from console.saturation import (
            RevisionEvents,
            container_events,
            events_by_revision,
            judge_saturation,
            summarize_saturation,
            with_saturation,
        )

        t = self.target
        # a decided step reads it afresh: a pass must not miss a kill, and a rollback for 5xx names the
        # out-of-memory kills behind them with Cloud Run's log line
        entries = self._system_log(state, since, now, force=verdict.decision != "continue")
        events = events_by_revision(container_events(entries), t.service)
        candidate_events = events.get(state.candidate, RevisionEvents())
        stable_events = events.get(state.stable, RevisionEvents())
        figures = {}
        decided = verdict.decision != "continue" or candidate_events.oom_kills or candidate_events.crashes
        period = self.config.analysis.window_seconds
        start = first_window_start(since, period)
        end = last_complete_end(now, period, self.config.analysis.metric_delay_seconds)
        if decided and end > start:
            try:
                counts = self.metrics.revision_windows(t.project, t.region, start, end, service=t.service,
                                                       period=period, latency=False, usage=False)
                saturation = self.metrics.saturation_windows(t.project, t.region, start, end, service=t.service,
                                                             period=period)
            except UnavailableError as error:
                self._warn(f"no saturation figures for this step ({error})")
            else:
                for revision in (state.candidate, state.stable):
                    requests = sum(w.requests for w in counts.get((t.service, revision), {}).values())
                    figures[revision] = summarize_saturation(
                        list(saturation.get((t.service, revision), {}).values()), end - start, requests)
        if decided and not figures:  # decided on the request log before Monitoring's first window of the step
            figures = self._starts_from_system_log(state, since, now, verdict)
        judgement = judge_saturation(
            state.candidate, candidate_events, stable_events, figures.get(state.candidate), figures.get(state.stable),
            self.config.analysis.memory_warning_percent / 100.0, self.config.analysis.cold_start_warning_percent / 100.0,
        )
        return with_saturation(verdict, judgement)

    def _starts_from_system_log(self, state: RolloutState, since: float, now: float, verdict: Verdict) -> dict[str, Any]:
        """Each revision's cold-start share over the step: container starts from Cloud Run's system log
        ("Starting new instance", seconds behind) ÷ the requests the judge counted in the step (one
        ListLogEntries; a read that fails leaves the share unreported, as a missing Monitoring window does)."""
        from console.gcp.logs import container_starts
        from console.saturation import Saturation

        t = self.target
        try:
            starts = container_starts(self.logs, t.project, t.region, since, now, service=t.service)
        except UnavailableError as error:
            self._warn(f"no cold-start figures for this step ({error})")
            return {}
        minutes = max(now - since, 1.0) / 60.0
        figures = {}
        for side, revision in (("candidate", state.candidate), ("stable", state.stable)):
            requests = (verdict.metrics.get(side) or {}).get("requests")
            count = starts.get(revision, 0)
            figures[revision] = Saturation(startups=count, startups_per_minute=count / minutes,
                                           cold_start_share=min(1.0, count / requests) if requests else None)
        return figures

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
            self.outcome.steps.append(StepReport(state.percent, state.step_started, now, "fail", {}, reasons,
                                                 source=self.step_source))
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
            if self.fenced_out:
                assert self.service is not None  # fenced out by a read of it
                served = self.service.served_split()
            else:
                served = self.refresh().served_split()
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
