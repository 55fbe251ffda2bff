"""Operator actions one at a time (scripts and the TUI): step, custom split, promote, and the
rollback that always wins (it pre-empts any lease)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from console.errors import LeaseHeldError, UsageError, VinconsoleError
from console.model import describe_split
from console.rollout import choice
from console.rollout.driver import RolloutDriver
from console.rollout.events import Interrupted, Outcome
from console.rollout.outcomes import EventKind, ExitCode, OutcomeKind, RollbackWhy
from console.state import FAILED_ANNOTATION, STABLE_ANNOTATION, Phase, RolloutState, with_failed

# An operator's rollback re-reads and tries again when a driver wrote between its read and its write.
ROLLBACK_ATTEMPTS = 3


class OperatorActions(RolloutDriver):
    """Each action takes the lease, does one thing, and releases it."""

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
        return choice.rollback_target(self.service, self.revisions, to, self.target.key)

    def plan_rollback(self, to: str | None = None) -> tuple[str, str]:
        """(target, what the confirmation says); 'nothing …' when the target already serves everyone."""
        self.refresh()
        target = self.rollback_target(to)
        assert self.service is not None  # refresh read it
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
            assert self.service is not None  # rollback_target read it
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
