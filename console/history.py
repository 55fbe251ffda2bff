"""Release history and the DORA figures, rebuilt from the console's audit entries.

The core is pure: `rebuild(entries)` turns audit `LogEntry`s (see console/audit.py and
console/engine.py for what is written) into `Rollout`s, `dora(rollouts, since, until)` computes
the four figures. `read_audit(...)` is the thin I/O part: one paged ListLogEntries per project.

Definitions (per "ENV/SERVICE" and overall):

- deployments_per_week: promoted rollouts ÷ weeks in the period;
- lead_time_minutes_median: median of (promote time − candidate revision created);
- change_failure_rate: failed ÷ (promoted + rolled back), where failed = rollouts rolled back,
  promoted rollouts that an operator rolled back later, and operator rollbacks of a revision no
  rollout in the period brought in (those count in the denominator too). Aborted rollouts
  (interrupted, infrastructure errors) and rollouts still in progress do not count;
- time_to_restore_minutes_median: median of (rollback time − errors started) over rollbacks that
  know when the errors started (a rollout's failed step; the incident view's since-when).

A figure with no data is None (`null` in JSON), never 0.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.gcp.logs import AUDIT_LOG_ID, LogEntry
from console.units import iso, minutes

if TYPE_CHECKING:  # pragma: no cover
    from console.config import Config, Target
    from console.gcp.clients import Clients

WEEK = 7 * 86400.0
HISTORY_READ_MAX_WAIT = 300.0  # seconds one audit page may wait for the log read budget
AUDIT_RETENTION_DAYS = 30  # Cloud Logging's _Default bucket, where the audit entries go unless routed elsewhere
ROLLED_BACK_WHY = ("analysis", "smoke", "inconclusive", "operator")  # else (interrupted, infrastructure): aborted


@dataclass(frozen=True)
class DoraTargets:
    """The team's targets from their plan."""

    lead_time_minutes: float = 10.0  # lead time below this
    change_failure_rate: float = 0.05  # below 5 %
    time_to_restore_minutes: float = 15.0  # below this

    def to_json(self) -> dict[str, float]:
        return {
            "lead_time_minutes_median": self.lead_time_minutes,
            "change_failure_rate": self.change_failure_rate,
            "time_to_restore_minutes_median": self.time_to_restore_minutes,
        }


DORA_TARGETS = DoraTargets()


@dataclass
class Step:
    percent: int
    at: float  # when the traffic moved
    verdict: str | None = None  # pass | fail | inconclusive (None: no verdict, e.g. an operator skipped on)
    reasons: list[str] = field(default_factory=list)
    judged_at: float | None = None
    extended: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"percent": self.percent, "at": iso(self.at), "verdict": self.verdict, "reasons": list(self.reasons),
                "judged_at": iso(self.judged_at), "extended": self.extended}


@dataclass
class Rollout:
    env: str
    service: str
    candidate: str | None
    stable: str | None
    driver: str  # the actor: "ci:github-actions run 123 (alice)" or "operator:alice@laptop"
    started: float
    kind: str = "rollout"  # rollout | rollback (an operator rollback outside any running rollout)
    id: str | None = None
    ended: float | None = None
    outcome: str = "in_progress"  # promoted | rolled_back | aborted | in_progress
    steps: list[Step] = field(default_factory=list)
    smoke: list[dict[str, Any]] = field(default_factory=list)  # {"at", "ok", "results"}
    candidate_created: float | None = None
    errors_started: float | None = None
    why: str | None = None  # rollbacks: analysis | smoke | inconclusive | interrupted | infrastructure | operator
    reasons: list[str] = field(default_factory=list)
    ended_by: str | None = None  # the actor of the end entry (an operator may end a CI rollout)
    reverted: Rollout | None = None  # a later operator rollback of this rollout's candidate
    drivers: list[str] = field(default_factory=list)  # every driver that drove a part (takeovers), in order

    @property
    def key(self) -> str:
        return f"{self.env}/{self.service}"

    @property
    def driver_kind(self) -> str:
        return driver_parts(self.driver)[0]

    @property
    def driver_name(self) -> str:
        return driver_parts(self.driver)[1]

    @property
    def lead_time_minutes(self) -> float | None:
        if self.kind != "rollout" or self.outcome != "promoted" or self.ended is None or self.candidate_created is None:
            return None
        return max(0.0, self.ended - self.candidate_created) / 60.0

    @property
    def time_to_restore_minutes(self) -> float | None:
        if self.outcome != "rolled_back" or self.ended is None or self.errors_started is None:
            return None
        return max(0.0, self.ended - self.errors_started) / 60.0

    @property
    def failed(self) -> bool:
        """A change that failed: rolled back, or promoted and rolled back later."""
        return self.outcome == "rolled_back" or (self.outcome == "promoted" and self.reverted is not None)

    def to_json(self) -> dict[str, Any]:
        kind, name = driver_parts(self.driver)
        return {
            "env": self.env,
            "service": self.service,
            "candidate": self.candidate,
            "stable": self.stable,
            "driver": self.driver,
            "started": iso(self.started),
            "ended": iso(self.ended),
            "outcome": self.outcome,
            "steps": [step.to_json() for step in self.steps],
            "kind": self.kind,
            "id": self.id,
            "driver_kind": kind,
            "driver_name": name,
            "ended_by": self.ended_by,
            "drivers": list(self.drivers) or [self.driver],
            "smoke": [{"at": iso(s["at"]), "ok": s["ok"], "results": s["results"]} for s in self.smoke],
            "candidate_created": iso(self.candidate_created),
            "lead_time_minutes": _round(self.lead_time_minutes),
            "errors_started": iso(self.errors_started),
            "time_to_restore_minutes": _round(self.time_to_restore_minutes),
            "why": self.why,
            "reasons": list(self.reasons),
            "rolled_back_later": (
                {"at": iso(self.reverted.ended), "by": self.reverted.driver, "to": self.reverted.stable,
                 "time_to_restore_minutes": _round(self.reverted.time_to_restore_minutes)}
                if self.reverted is not None else None
            ),
        }


@dataclass
class Dora:
    deployments: int  # promoted rollouts
    changes: int  # promoted + rolled back (+ operator rollbacks of revisions no rollout brought in)
    failures: int
    restores: int  # rollbacks with a known start of errors
    deployments_per_week: float | None
    lead_time_minutes_median: float | None
    change_failure_rate: float | None
    time_to_restore_minutes_median: float | None

    def meets(self, targets: DoraTargets = DORA_TARGETS) -> dict[str, bool | None]:
        def below(value: float | None, limit: float) -> bool | None:
            return None if value is None else value < limit

        return {
            "lead_time_minutes_median": below(self.lead_time_minutes_median, targets.lead_time_minutes),
            "change_failure_rate": below(self.change_failure_rate, targets.change_failure_rate),
            "time_to_restore_minutes_median": below(self.time_to_restore_minutes_median, targets.time_to_restore_minutes),
        }

    def to_json(self, targets: DoraTargets = DORA_TARGETS) -> dict[str, Any]:
        return {
            "deployments_per_week": _round(self.deployments_per_week),
            "lead_time_minutes_median": _round(self.lead_time_minutes_median),
            "change_failure_rate": _round(self.change_failure_rate, 4),
            "time_to_restore_minutes_median": _round(self.time_to_restore_minutes_median),
            "deployments": self.deployments,
            "changes": self.changes,
            "failures": self.failures,
            "restores": self.restores,
            "meets_targets": self.meets(targets),
        }


@dataclass
class History:
    since: float
    until: float
    rollouts: list[Rollout]  # oldest first
    overall: Dora
    services: dict[str, Dora]  # "ENV/SERVICE" → figures
    targets: DoraTargets = DORA_TARGETS
    notes: list[str] = field(default_factory=list)  # e.g. the span reaches past the log retention

    def to_json(self) -> dict[str, Any]:
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "notes": list(self.notes),
            "rollouts": [r.to_json() for r in self.rollouts],
            "dora": {
                "overall": self.overall.to_json(self.targets),
                "services": {key: figures.to_json(self.targets) for key, figures in sorted(self.services.items())},
                "targets": self.targets.to_json(),
            },
        }


# ------------------------------------------------------------------------------------- pure core


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


_CI_WHO = re.compile(r"\(([^()]+)\)\s*$")


def _credit(rollout: Rollout, payload: Mapping[str, Any], actor: str) -> None:
    """Credit the driver of an entry to its rollout: after a takeover, each driver that drove a part."""
    # the lease holder with its pid (two runners of one actor differ); entries that name none (older
    # consoles) credit their actor only when nobody is credited yet
    who = str(payload.get("driver") or ("" if rollout.drivers else actor))
    if who and who not in rollout.drivers:
        rollout.drivers.append(who)


def driver_parts(actor: str) -> tuple[str, str]:
    """("ci", "alice") for "ci:github-actions run 123 (alice)"; ("operator", "alice@laptop") for an operator."""
    kind, _, rest = (actor or "").partition(":")
    rest = re.sub(r"\s+pid \d+$", "", rest.strip())
    if kind == "ci":
        match = _CI_WHO.search(rest)
        return "ci", match.group(1) if match else rest
    if kind == "operator":
        return "operator", rest
    return "unknown", actor or ""


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _full(split: Any) -> str | None:
    """The revision a split sends 100 % to (numbers come back as floats)."""
    if isinstance(split, Mapping):
        for revision, percent in split.items():
            if _num(percent) == 100:
                return revision
    return None


def rebuild(entries: Iterable[LogEntry]) -> list[Rollout]:
    """Rollouts (and operator rollbacks) from audit entries, oldest first.

    Entries of a rollout share its `rollout` id: "start" opens it, "promote" or "rollback" ends
    it. Smoke entries carry no id: they belong to the rollout of that service running then.
    A rollback with no id, or with the id of a rollout that already ended, is an operator
    rollback of its own; it marks the rollout that brought in `rolled_back_from` as failed.
    """
    ordered = sorted(
        (e for e in entries if isinstance(e.payload, Mapping) and e.payload.get("kind")),
        key=lambda e: (e.timestamp, e.insert_id),
    )
    by_id: dict[str, Rollout] = {}
    running: dict[str, Rollout] = {}  # "env/service" → the rollout in progress
    out: list[Rollout] = []

    for entry in ordered:
        p = entry.payload
        kind = str(p.get("kind"))
        env, service = str(p.get("env", "")), str(p.get("service", ""))
        key = f"{env}/{service}"
        rid = p.get("rollout")
        actor = str(p.get("actor", ""))
        at = entry.timestamp
        rollout = by_id.get(rid) if rid else None

        if kind == "start":
            rollout = Rollout(env, service, p.get("candidate"), p.get("stable"), actor, at, id=rid,
                              candidate_created=_num(p.get("candidate_created")))
            if rid:
                by_id[rid] = rollout
            running[key] = rollout
            out.append(rollout)
            _credit(rollout, p, actor)
        elif kind == "smoke":
            target = running.get(key)
            if target is not None:
                target.smoke.append({"at": at, "ok": bool(p.get("ok")), "results": list(p.get("results") or [])})
        elif kind in ("traffic", "hold", "verdict", "promote") and rid:
            if rollout is None:  # its start lies before the period read: rebuild what we can
                rollout = Rollout(env, service, p.get("candidate"), p.get("stable"), actor, at, id=rid,
                                  candidate_created=_num(p.get("candidate_created")))
                by_id[rid] = rollout
                running[key] = rollout
                out.append(rollout)
            if rollout.outcome != "in_progress":
                continue
            _credit(rollout, p, actor)
            if rollout.candidate_created is None:
                rollout.candidate_created = _num(p.get("candidate_created"))
            if kind == "traffic":
                percent = int(_num(p.get("percent")) or 0)
                if percent:
                    rollout.steps.append(Step(percent, at))
            elif kind == "hold":
                if rollout.steps:
                    rollout.steps[-1].extended = True
            elif kind == "verdict":
                percent = int(_num(p.get("percent")) or 0)
                step = next((s for s in reversed(rollout.steps) if s.percent == percent), None)
                if step is None:
                    step = Step(percent, at)
                    rollout.steps.append(step)
                step.verdict = p.get("decision")
                step.reasons = [str(r) for r in p.get("reasons") or []]
                step.judged_at = at
            else:  # promote
                rollout.ended, rollout.outcome, rollout.ended_by = at, "promoted", actor
                if not rollout.steps or rollout.steps[-1].percent != 100:
                    rollout.steps.append(Step(100, at))
                running.pop(key, None)
        elif kind == "rollback":
            why = p.get("why")
            reasons = [str(r) for r in p.get("reasons") or []]
            if rollout is not None and rollout.outcome == "in_progress":
                if why != "operator":  # an operator's rollback ends it (ended_by); it did not drive a part
                    _credit(rollout, p, actor)
                rollout.ended, rollout.why, rollout.reasons, rollout.ended_by = at, why, reasons, actor
                rollout.outcome = "rolled_back" if (why or "operator") in ROLLED_BACK_WHY else "aborted"
                rollout.errors_started = _num(p.get("errors_started"))
                running.pop(key, None)
                continue
            restored_to = _full(p.get("after"))
            rolled_back_from = p.get("rolled_back_from") or next(
                (rev for rev in (p.get("before") or {}) if rev != restored_to), None
            )
            event = Rollout(env, service, rolled_back_from, restored_to, actor, at, kind="rollback", id=rid, ended=at,
                            outcome="rolled_back", why=why or "operator", reasons=reasons,
                            errors_started=_num(p.get("errors_started")), ended_by=actor)
            out.append(event)
            if running.get(key) is not None and running[key].outcome == "in_progress":
                running.pop(key)
            culprit = next(
                (r for r in reversed(out) if r.kind == "rollout" and r.key == key and r.outcome == "promoted"
                 and r.candidate == rolled_back_from and r.reverted is None),
                None,
            )
            if culprit is not None:
                culprit.reverted = event
    return out


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def dora(rollouts: Sequence[Rollout], since: float, until: float) -> Dora:
    weeks = (until - since) / WEEK
    promoted = [r for r in rollouts if r.kind == "rollout" and r.outcome == "promoted"]
    rolled_back = [r for r in rollouts if r.kind == "rollout" and r.outcome == "rolled_back"]
    rollbacks = [r for r in rollouts if r.kind == "rollback"]
    reverted = {id(r.reverted) for r in promoted if r.reverted is not None}
    orphans = [r for r in rollbacks if id(r) not in reverted]  # operator rollbacks of revisions no rollout here brought in
    changes = len(promoted) + len(rolled_back) + len(orphans)
    failures = len(rolled_back) + len(reverted) + len(orphans)
    lead = [r.lead_time_minutes for r in promoted if r.lead_time_minutes is not None]
    restore = [r.time_to_restore_minutes for r in rolled_back + rollbacks if r.time_to_restore_minutes is not None]
    return Dora(
        deployments=len(promoted),
        changes=changes,
        failures=failures,
        restores=len(restore),
        deployments_per_week=len(promoted) / weeks if weeks > 0 else None,
        lead_time_minutes_median=_median(lead),
        change_failure_rate=failures / changes if changes else None,
        time_to_restore_minutes_median=_median(restore),
    )


def build_history(entries: Iterable[LogEntry], since: float, until: float, keys: Iterable[str] | None = None,
                  targets: DoraTargets = DORA_TARGETS) -> History:
    """Rollouts that started in [since, until) and the DORA figures, per "ENV/SERVICE" in `keys`
    (default: every service seen) and overall."""
    rollouts = [r for r in rebuild(entries) if since <= r.started < until]
    wanted = list(keys) if keys is not None else sorted({r.key for r in rollouts})
    rollouts = [r for r in rollouts if r.key in wanted]
    per_key: dict[str, list[Rollout]] = defaultdict(list)
    for rollout in rollouts:
        per_key[rollout.key].append(rollout)
    return History(
        since=since,
        until=until,
        rollouts=rollouts,
        overall=dora(rollouts, since, until),
        services={key: dora(per_key.get(key, []), since, until) for key in wanted},
        targets=targets,
    )


# ------------------------------------------------------------------------------------------- I/O


def audit_filter(project: str, since: float, until: float) -> str:
    from console.gcp.logs import audit_log_name, rfc3339

    return f'logName = "{audit_log_name(project)}" AND timestamp >= "{rfc3339(since)}" AND timestamp < "{rfc3339(until)}"'


def read_audit(config: Config, clients: Clients, targets: Sequence[Target], since: float, until: float,
               *, limit: int = 200_000) -> list[LogEntry]:
    """Audit entries of `targets` in [since, until): one paged ListLogEntries per project."""
    from concurrent.futures import ThreadPoolExecutor

    from console.gcp.logs import Logs

    logs = Logs(clients)
    projects = sorted({t.project for t in targets})
    wanted = {(t.env, t.service) for t in targets}

    def one(project: str) -> list[LogEntry]:
        # up to 200 pages: past this process's log read budget (30/min per project) a page waits its turn
        return logs.list(project, audit_filter(project, since, until), newest_first=False, limit=limit, page_size=1000,
                         max_wait=HISTORY_READ_MAX_WAIT)

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(projects)))) as pool:
        found = [entry for entries in pool.map(one, projects) for entry in entries]
    return [e for e in deduplicated(found) if (e.payload.get("env"), e.payload.get("service")) in wanted]


def deduplicated(entries: Iterable[LogEntry]) -> list[LogEntry]:
    """One entry per (insert_id, timestamp), as Cloud Logging treats duplicates: a retried audit
    write (same deterministic insert_id) is one action, not two (pure)."""
    seen: set[tuple[str, float]] = set()
    out = []
    for entry in entries:
        key = (entry.insert_id, entry.timestamp)
        if entry.insert_id and key in seen:
            continue
        seen.add(key)
        out.append(entry)
    return out


def read_history(config: Config, clients: Clients, targets: Sequence[Target], since: float, until: float,
                 dora_targets: DoraTargets = DORA_TARGETS) -> History:
    entries = read_audit(config, clients, targets, since, until)
    history = build_history(entries, since, until, [t.key for t in targets], dora_targets)
    note = retention_note(since, until)
    if note:
        history.notes.append(note)
    return history


def retention_note(since: float, until: float, retention_days: int = AUDIT_RETENTION_DAYS) -> str | None:
    """What an operator must know when the span reaches past the audit log's retention (pure)."""
    kept_from = until - retention_days * 86400
    if since >= kept_from:
        return None
    return (f"the span starts {iso(since)}, but the audit entries are in the _Default log bucket, which keeps "
            f"{retention_days} days: nothing before {iso(kept_from)} can be read, so the figures cover "
            f"{retention_days} of {(until - since) / 86400:.0f} days. For a longer history, route the "
            f"{AUDIT_LOG_ID} log to a bucket with longer retention (README: Pointing it at real Google Cloud)")


#: what goes first when a terminal is too narrow for every column of the rollouts table
HISTORY_LEFT_OUT_WHEN_NARROW = ("revision prefixes", "stable", "driver", "steps")


def history_view(history: History, title: str, width: int | None = None) -> Any:
    """A rich renderable: the rollouts, then the DORA figures beside the team's targets. With `width`
    (a terminal's), the rollouts table leaves out what does not fit and says so."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from console.tables import fit_to_width

    symbols = {"promoted": ("✔ promoted", "green"), "rolled_back": ("✘ rolled back", "red"),
               "aborted": ("■ aborted", "yellow"), "in_progress": ("… in progress", "cyan")}

    def rollouts_table(left_out: Sequence[str]) -> Table:
        def name(revision: str | None, service: str) -> str:
            if not revision:
                return "—"
            return revision.removeprefix(service + "-") if "revision prefixes" in left_out else revision

        columns = [c for c in ("started (UTC)", "service", "candidate", "stable", "driver", "outcome", "steps", "lead",
                               "restore") if c not in left_out]
        table = Table(title=title, title_justify="left", expand=False)
        for column in columns:
            table.add_column(column, no_wrap=column not in ("steps", "outcome"))  # these two may wrap
        for r in history.rollouts:
            text, style = symbols.get(r.outcome, (r.outcome, ""))
            if r.kind == "rollback":
                text = "↶ operator rollback"
            elif r.reverted is not None:
                text += " ↶ later rolled back"
            steps = " ".join(f"{s.percent}%{'✔' if s.verdict == 'pass' else '✘' if s.verdict == 'fail' else '?' if s.verdict else ''}"
                             for s in r.steps)
            if r.why and r.outcome != "promoted":
                steps = (steps + f" ({r.why})").strip()
            cells: dict[str, str | Text] = {
                "started (UTC)": datetime.fromtimestamp(r.started, UTC).strftime("%m-%d %H:%M"),
                "service": r.key, "candidate": name(r.candidate, r.service), "stable": name(r.stable, r.service),
                "driver": f"{r.driver_kind}: {r.driver_name}", "outcome": Text(text, style=style), "steps": steps,
                "lead": minutes(r.lead_time_minutes), "restore": minutes(r.time_to_restore_minutes),
            }
            table.add_row(*(cells[c] for c in columns))
        return table

    rollouts = fit_to_width(rollouts_table, HISTORY_LEFT_OUT_WHEN_NARROW, width)
    targets = history.targets
    figures = Table(title="DORA", title_justify="left")
    figures.add_column("service", no_wrap=True)
    figures.add_column("deploys / week", justify="right")
    figures.add_column(f"lead time (< {targets.lead_time_minutes:g} min)", justify="right")
    figures.add_column(f"change failure rate (< {targets.change_failure_rate:.0%})", justify="right")
    figures.add_column(f"time to restore (< {targets.time_to_restore_minutes:g} min)", justify="right")

    def judged(value: float | None, ok: bool | None, text: str) -> Text:
        if value is None:
            return Text("— no data", style="dim")
        return Text(("✔ " if ok else "✘ ") + text, style="green" if ok else "red")

    for key, d in [*sorted(history.services.items()), ("overall", history.overall)]:
        meets = d.meets(targets)
        figures.add_row(
            Text(key, style="bold" if key == "overall" else ""),
            "—" if d.deployments_per_week is None else f"{d.deployments_per_week:.1f}",
            judged(d.lead_time_minutes_median, meets["lead_time_minutes_median"], minutes(d.lead_time_minutes_median)),
            judged(d.change_failure_rate, meets["change_failure_rate"],
                   f"{(d.change_failure_rate or 0):.1%} ({d.failures}/{d.changes})"),
            judged(d.time_to_restore_minutes_median, meets["time_to_restore_minutes_median"],
                   minutes(d.time_to_restore_minutes_median)),
        )
    notes = [Text(f"▲ {note}", style="yellow") for note in history.notes]
    return Group(rollouts, figures, *notes)


def parse_since(text: str) -> float:
    """"30d", "12h", "90m" → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([dhm])\s*", text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h or 90m")
    return float(match.group(1)) * {"d": 86400, "h": 3600, "m": 60}[match.group(2)]
