"""Thirty days of past rollouts, written into the emulator's log store as the engine writes them.

So that `vinconsole history`, the DORA figures and the incident timeline have real data in the
demo and against `vinconsole emulator`: for every service in every environment, rollouts on
weekdays (about one or two a day), mostly promoted, some rolled back by the judge or by failed
smoke checks, now and then one rolled back by an operator after its promotion; driven by CI
(`ci:github-actions run N (actor)`) and by operators (`operator:name@host`).

It agrees with the fleet (console/emulator/fleet.py): the last promoted rollout of each service
is the one that made today's stable revision serve 100 % (about 3 days ago), revisions numbered
between the older and the stable revision are rollouts that were rolled back, and traffic changes
the fleet's setup made in the last hours (the `incident` scenario's bad release: 10 %, then 100 %
about 20 minutes ago) are written as an operator's rollout. Every entry lies strictly before the
emulator's start; everything is drawn from the fleet seed, so it is the same on every run.
"""

from __future__ import annotations

import math
import random
import string
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from console.emulator.fleet import Fleet, SimService

AUDIT_LOG_ID = "vinconsole-audit"  # console.gcp.logs.AUDIT_LOG_ID (not imported: no Google import here)
DAY = 86400.0
DAYS = 30
RECENT_SECONDS = 6 * 3600  # traffic changes the fleet's setup made this recently become a rollout

CI_ACTORS = ("alice", "bhavin", "chen", "dara")
OPERATORS = ("alice@alice-mbp", "chen@chen-thinkpad", "oncall@ops-bastion", "dara@dara-xps")
NOTICE, WARNING = 300, 400


class _Writer:
    """Audit entries of one service, in the engine's format (console/audit.py, console/engine.py)."""

    def __init__(self, svc: SimService, rng: random.Random, cutoff: float):
        self.svc = svc
        self.rng = rng
        self.cutoff = cutoff
        self.entries: list[dict[str, Any]] = []
        self.run_number = rng.randint(9_100_000_000, 9_200_000_000)

    def ci(self) -> str:
        self.run_number += self.rng.randint(3, 90)
        return f"ci:github-actions run {self.run_number} ({self.rng.choice(CI_ACTORS)})"

    def operator(self) -> str:
        return f"operator:{self.rng.choice(OPERATORS)}"

    def entry(self, at: float, kind: str, actor: str, message: str, *, revision: str = "", severity: int = NOTICE,
              **fields: Any) -> None:
        at = min(at, self.cutoff - 1e-3)
        payload = {"kind": kind, "env": self.svc.env, "service": self.svc.name, "actor": actor, "message": message,
                   **{k: _plain(v) for k, v in fields.items() if v is not None}}
        self.entries.append({"at": at, "kind": kind, "revision": revision, "severity": severity, "payload": payload})

    # --- one rollout ---------------------------------------------------------------------------

    def rollout(self, candidate: str, stable: str, created: float, start: float, actor: str, plan: str) -> float:
        """Write a rollout; return when it ended. plan: promote | fast-promote | fail-analysis | fail-smoke."""
        rng = self.rng
        rid = f"r-{rng.getrandbits(32):08x}"
        driver = f"{actor} pid {rng.randint(1200, 65000)}"
        steps = (10, 50, 100)

        def state(t: float, kind: str, phase: str, step: int, percent: int, before: dict, after: dict, message: str,
                  **details: Any) -> None:
            self.entry(t, kind, actor, message, revision=candidate, rollout=rid, candidate=candidate, stable=stable,
                       phase=phase, step=step, percent=percent, before=before, after=after, driver=driver,
                       candidate_created=created, **details)

        def smoke(t: float, ok: bool = True) -> None:
            results = [{"name": check.name, "ok": ok, "status": 200 if ok else 503,
                        "latency_ms": round(rng.uniform(40, 400) if ok else rng.uniform(5, 30), 1),
                        "error": None if ok else f"expected status {check.expect_status}, got 503",
                        "url": f"https://candidate---{self.svc.name}-x7k2q-uc.a.run.app{check.path}"}
                       for check in (self.svc.smoke or ())]
            if not results:
                return
            names = ", ".join(("ok " if ok else "FAILED ") + r["name"] for r in results)
            self.entry(t, "smoke", actor, f"smoke checks of {candidate}: {names}", revision=candidate,
                       severity=NOTICE if ok else WARNING, results=results, ok=ok)

        full = {stable: 100}
        self.entry(start - 2, "lease", actor, "lease taken", before=full, after=full, driver=driver)
        state(start, "start", "smoke", 1, 0, full, full,
              f"rollout {rid} started: {candidate} (candidate) against {stable} (stable)")
        t = start + rng.uniform(8, 25)
        if plan == "fail-smoke":
            smoke(t, ok=False)
            t += 1
            check = self.svc.smoke[0].name if self.svc.smoke else "tag-url"
            reasons = [f"smoke check {check} failed: expected status 200, got 503"]
            state(t, "rollback", "rolled_back", 1, 0, full, full,
                  f"rolled back {candidate} (smoke): " + "; ".join(reasons), why="smoke", reasons=reasons)
            return t
        smoke(t)
        split = full
        for index, percent in enumerate(steps):
            t += rng.uniform(2, 6)
            before, split = split, ({candidate: 100} if percent == 100 else {stable: 100 - percent, candidate: percent})
            state(t, "traffic", "baking", index + 1, percent, before, split,
                  f"step {index + 1}/{len(steps)}: {candidate} to {percent} %")
            step_started = t
            if percent == 100:
                break
            if plan == "fast-promote" and percent == 50:
                # the operator saw enough and promoted without waiting for the judge
                t += rng.uniform(90, 240)
                state(t, "promote", "promoted", 3, 100, split, {candidate: 100},
                      f"promoted {candidate} to 100 % (was {stable})")
                return t
            if plan == "fast-promote":
                t += rng.uniform(120, 300)
                continue
            fail_here = plan == "fail-analysis" and (percent == 50 or rng.random() < 0.6)
            t += rng.uniform(150, 420) if fail_here else rng.uniform(300, 460)
            if fail_here:
                bad = rng.uniform(2.5, 9.0)
                good = rng.uniform(0.2, 0.6)
                reasons = [f"5xx {bad:.1f} % vs stable {good:.1f} % — limit +2 pp",
                           f"likelihood ratio {rng.uniform(21, 400):.0f} ≥ 20 (α 0.05): the bad requests come from "
                           f"{candidate}"]
                self.entry(t, "verdict", actor, f"step {index + 1} at {percent} %: fail", revision=candidate,
                           severity=WARNING, rollout=rid, decision="fail", reasons=reasons, percent=percent)
                t += rng.uniform(1, 4)
                state(t, "rollback", "rolled_back", index + 1, percent, split, full,
                      f"rolled back {candidate} (analysis): " + "; ".join(reasons),
                      why="analysis", reasons=reasons, errors_started=step_started)
                return t
            requests = rng.randint(400, 6000) * (1 if percent == 10 else 5)
            reasons = [f"5xx {rng.uniform(0.2, 0.6):.1f} % vs stable {rng.uniform(0.2, 0.6):.1f} % over {requests} "
                       "requests — no evidence of a regression",
                       f"p95 {rng.uniform(380, 470):.0f} ms vs {rng.uniform(380, 470):.0f} ms — limit ×1.5"]
            self.entry(t, "verdict", actor, f"step {index + 1} at {percent} %: pass", revision=candidate,
                       rollout=rid, decision="pass", reasons=reasons, percent=percent)
            t += rng.uniform(3, 12)
            smoke(t)
        t += rng.uniform(8, 25)
        smoke(t)
        t += rng.uniform(1, 4)
        state(t, "promote", "promoted", 3, 100, {candidate: 100}, {candidate: 100},
              f"promoted {candidate} to 100 % (was {stable})")
        return t

    def operator_rollback(self, at: float, bad: str, to: str, errors_started: float) -> None:
        actor = self.operator()
        reason = f"5xx {self.rng.uniform(3, 12):.1f} % since the release (paged)"
        self.entry(at, "rollback", actor, f"rolled back to {to} ({reason}); was {bad} 100 %", revision="",
                   before={bad: 100}, after={to: 100}, driver=f"{actor} pid {self.rng.randint(1200, 65000)}",
                   why="operator", reasons=[reason], errors_started=errors_started, rolled_back_from=bad)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return str(value)


def _name(svc: SimService, number: int, rng: random.Random) -> str:
    return f"{svc.name}-{number:05d}-{''.join(rng.choices(string.ascii_lowercase, k=3))}"


def _number(name: str) -> int:
    from console.emulator.fleet import revision_number

    return revision_number(name)


def _weekday_slots(rng: random.Random, start: float, end: float) -> list[float]:
    """Rollout times on weekdays between start and end: 0, 1 or 2 a day, in working hours (UTC)."""
    slots: list[float] = []
    day = math.floor(start / DAY) * DAY
    while day < end:
        if time.gmtime(day).tm_wday < 5:
            count = rng.choices((0, 1, 2), weights=(0.15, 0.6, 0.25))[0]
            for hour in sorted(rng.uniform(8.5, 17.5) for _ in range(count)):
                t = day + hour * 3600
                if start <= t < end:
                    slots.append(t)
        day += DAY
    return slots


def service_history(fleet: Fleet, svc: SimService, days: int = DAYS) -> list[dict[str, Any]]:
    """The audit entries of one service's past `days`, oldest first (plain dicts, see `_Writer.entry`)."""
    started = fleet.started
    rng = random.Random(f"history/{fleet.seed}/{svc.env}/{svc.name}")
    w = _Writer(svc, rng, started)
    revisions = sorted(svc.revisions.values(), key=lambda r: r.create_time)
    old, stable = revisions[0], revisions[1]

    # 1. From `days` ago to the older revision's promotion: one slot per rollout, the last one is `old`.
    slots = _weekday_slots(rng, started - days * DAY, old.create_time - 3600)
    slots = slots[-max(0, old.number - 2):] if old.number > 2 else []  # revision numbers start at 00001
    plans = []
    for _ in slots:
        roll = rng.random()
        plans.append("fail-analysis" if roll < 0.03 else "fail-smoke" if roll < 0.04 else
                     "revert" if roll < 0.06 else "promote")
    numbers = list(range(old.number - len(slots), old.number))
    current = _name(svc, old.number - len(slots) - 1, rng)  # stable before the period
    for t, number, plan in zip(slots, numbers, plans):
        candidate = _name(svc, number, rng)
        current = _one(w, rng, candidate, current, t, plan)
    current = _one(w, rng, old.name, current, old.create_time, "promote")

    # 2. Revisions numbered between old and stable: rollouts that were rolled back (old stayed stable).
    gap = [n for n in range(old.number + 1, stable.number)]
    for i, number in enumerate(gap):
        t = old.create_time + (stable.create_time - old.create_time) * (i + 1) / (len(gap) + 1)
        _one(w, rng, _name(svc, number, rng), old.name, t, rng.choice(("fail-analysis", "fail-analysis", "fail-smoke")))

    # 3. Today's stable revision: promoted about 3 days ago.
    _one(w, rng, stable.name, old.name, stable.create_time, "promote")

    # 4. Traffic changes the fleet's setup made in the last hours (the incident's bad release).
    recent = [(t, split) for t, split in svc.split_changes() if started - RECENT_SECONDS < t < started]
    if recent:
        bad = max(recent[-1][1], key=recent[-1][1].__getitem__)
        previous = next((s for t, s in reversed(svc.split_changes()) if t <= recent[0][0] - 1 and s), {})
        prior = max(previous, key=previous.__getitem__) if previous else stable.name
        created = svc.revisions[bad].create_time if bad in svc.revisions else recent[0][0] - 300
        _operator_release(w, rng, bad, prior, created, recent)
    w.entries.sort(key=lambda e: e["at"])
    return w.entries


def _one(w: _Writer, rng: random.Random, candidate: str, stable: str, created: float, plan: str) -> str:
    """One rollout (and, for `revert`, its later operator rollback); returns the stable revision after it."""
    by_operator = rng.random() < 0.3
    actor = w.operator() if by_operator else w.ci()
    start = created + rng.uniform(45, 300)
    mode = "promote" if plan == "revert" else plan
    if by_operator and mode == "promote" and rng.random() < 0.6:
        mode = "fast-promote"
    ended = w.rollout(candidate, stable, created, start, actor, mode)
    if plan in ("fail-analysis", "fail-smoke"):
        return stable
    if plan == "revert":
        errors = ended + rng.uniform(120, 900)
        w.operator_rollback(errors + rng.uniform(240, 1500), candidate, stable, errors)
        return stable
    return candidate


def _operator_release(w: _Writer, rng: random.Random, bad: str, prior: str, created: float,
                      changes: list[tuple[float, dict[str, int]]]) -> None:
    """An operator stepping `bad` in at the fleet's recorded traffic changes, then promoting it."""
    actor = w.operator()
    rid = f"r-{rng.getrandbits(32):08x}"
    driver = f"{actor} pid {rng.randint(1200, 65000)}"
    common: dict[str, Any] = dict(revision=bad, rollout=rid, candidate=bad, stable=prior, driver=driver, candidate_created=created)
    first = changes[0][0]
    full = {prior: 100}
    w.entry(first - 62, "lease", actor, "lease taken", before=full, after=full, driver=driver)
    w.entry(first - 60, "start", actor, f"rollout {rid} started: {bad} (candidate) against {prior} (stable)",
            phase="smoke", step=1, percent=0, before=full, after=full, **common)
    results = [{"name": c.name, "ok": True, "status": 200, "latency_ms": round(rng.uniform(60, 300), 1), "error": None,
                "url": f"https://candidate---{w.svc.name}-x7k2q-uc.a.run.app{c.path}"} for c in (w.svc.smoke or ())]
    if results:
        w.entry(first - 40, "smoke", actor, f"smoke checks of {bad}: " + ", ".join("ok " + r["name"] for r in results),
                revision=bad, results=results, ok=True)
    before = full
    for index, (t, split) in enumerate(changes):
        percent = split.get(bad, 0)
        if percent >= 100:
            w.entry(t, "promote", actor, f"promoted {bad} to 100 % (was {prior})", phase="promoted", step=index + 1,
                    percent=100, before=before, after=split, **common)
        else:
            w.entry(t, "traffic", actor, f"step {index + 1}/3: {bad} to {percent} %", phase="baking", step=index + 1,
                    percent=percent, before=before, after=split, **common)
        before = split


def seed_history(fleet: Fleet, store: Any, days: int = DAYS) -> int:
    """Write the past `days` of audit entries of every service into `store` (a LogStore); returns how many."""
    from console.emulator.logging_api import _pb_classes

    LogEntry = _pb_classes()["LogEntry"]
    pbs = []
    for svc in sorted(fleet.services(), key=lambda s: (s.env, s.name)):
        for item in service_history(fleet, svc, days):
            pb = LogEntry()
            pb.log_name = f"projects/{svc.project}/logs/{AUDIT_LOG_ID}"
            pb.resource.type = "cloud_run_revision"
            pb.resource.labels.update({"project_id": svc.project, "location": svc.region, "service_name": svc.name,
                                       "revision_name": item["revision"]})
            pb.json_payload.update(item["payload"])
            pb.severity = item["severity"]
            pb.labels.update({"vinconsole_kind": item["kind"], "vinconsole_env": svc.env})
            seconds = math.floor(item["at"])
            pb.timestamp.seconds = seconds
            pb.timestamp.nanos = min(999_999_999, int((item["at"] - seconds) * 1e9))
            pb.receive_timestamp.CopyFrom(pb.timestamp)
            pbs.append(pb)
    if pbs:
        store.write(pbs)
    return len(pbs)
