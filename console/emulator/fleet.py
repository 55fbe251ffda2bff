"""The simulated fleet behind the emulator: services, revisions, traffic and scenarios.

Everything here runs on the shared `Clock` (never `time.time()`), so a scaled clock makes
production-length rollouts pass in seconds. All mutable state is guarded by `Fleet.lock`.

Scenarios are data (`SCENARIO_SPECS`): each says how the candidate behaves compared with
stable, the request rates, random API fault rates, and an optional setup step run after
seeding. Add one by adding an entry.
"""

from __future__ import annotations

import math
import os
import random
import re
import string
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from console.clock import Clock

if TYPE_CHECKING:  # pragma: no cover
    from console.config import Config, SmokeCheck, Target

DAY = 86_400.0
# How long a new revision takes to become ready, and an update to reconcile (clock seconds).
REVISION_READY_SECONDS = 10.0
RECONCILE_SECONDS = 5.0
# Overrides RECONCILE_SECONDS for an emulator process (clock seconds): a test that needs to act
# while a write is in flight widens the window; 0 serves every write at once.
RECONCILE_ENV = "VINCONSOLE_EMULATOR_RECONCILE_SECONDS"


def reconcile_seconds_from_env(environ: os._Environ[str] | dict[str, str] | None = None) -> float:
    raw = (os.environ if environ is None else environ).get(RECONCILE_ENV, "")
    if not raw:
        return RECONCILE_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{RECONCILE_ENV}={raw!r} is not a number of (clock) seconds") from None
    if seconds < 0:
        raise ValueError(f"{RECONCILE_ENV}={raw!r} must not be negative")
    return seconds

REVISION = "REVISION"
LATEST = "LATEST"


@dataclass
class Behavior:
    """How a revision behaves under traffic, at one time."""

    error_rate: float  # fraction of requests answered 5xx (mostly 500/503)
    client_error_rate: float = 0.01  # 4xx fraction
    latency_median_ms: float = 120.0
    latency_sigma: float = 0.6  # lognormal sigma of request latency
    cpu_utilization: float = 0.3  # mean 0..1
    memory_utilization: float = 0.4
    startup_latency_ms: float = 900.0
    crash_looping: bool = False  # instances keep failing their health check
    error_messages: tuple[str, ...] = ()  # app error messages (with stack traces) logged with a 5xx
    # Saturation (console/emulator/saturation.py): a memory leak gets instances OOM-killed once they
    # reach their limit; a share of requests finds no warm instance and starts one (cold start).
    memory_leak_per_minute: float = 0.0  # fraction of the memory limit an instance leaks per minute
    cold_start_probability: float = 0.001  # chance that a request starts a new instance


@dataclass
class SimRevision:
    name: str  # short: "vinsight-backend-00007-kx2"
    service: SimService
    create_time: float  # unix seconds (clock time)
    image: str
    cpu: float  # vCPU limit, e.g. 1.0
    memory_gib: float  # e.g. 0.5, 2.0
    ready: bool
    # --- emulator-private details (not part of the E1/E2 interface) ---
    behavior: Behavior = field(default_factory=lambda: Behavior(error_rate=0.004))
    phases: list[tuple[float, Behavior]] = field(default_factory=list)  # (from time, behaviour), rising
    ready_at: float | None = None  # when a not-yet-ready revision becomes ready
    uid: str = ""
    etag: str = ""
    min_instances: int = 0
    max_instances: int = 100

    def behavior_at(self, t: float) -> Behavior:
        current = self.behavior
        for start, behavior in self.phases:
            if start <= t:
                current = behavior
        return current

    @property
    def number(self) -> int:
        return revision_number(self.name)

    def __repr__(self) -> str:  # the service back-reference would recurse
        return f"SimRevision({self.name!r}, ready={self.ready})"


@dataclass
class TrafficEntry:
    """One written traffic target, or (resolved) one served traffic status."""

    type: str  # REVISION or LATEST
    revision: str = ""  # short name; for LATEST statuses, the revision it resolved to
    percent: int = 0
    tag: str = ""


@dataclass
class PendingUpdate:
    """An accepted UpdateService whose traffic is not served yet (the service reconciles)."""

    generation: int
    done_at: float  # clock time
    traffic: list[TrafficEntry]


@dataclass
class SimService:
    project: str
    region: str
    name: str
    env: str  # config environment name
    revisions: dict[str, SimRevision]  # by short name, oldest first
    # --- emulator-private details ---
    base_rate: float = 10.0  # mean requests/s
    production: bool = False
    smoke: tuple = ()  # the config's SmokeCheck list for this service
    uid: str = ""
    create_time: float = 0.0
    update_time: float = 0.0
    creator: str = "deployer@vinsight.iam.gserviceaccount.com"
    last_modifier: str = "deployer@vinsight.iam.gserviceaccount.com"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    generation: int = 1
    observed_generation: int = 1
    traffic: list[TrafficEntry] = field(default_factory=list)  # written
    served: list[TrafficEntry] = field(default_factory=list)  # resolved statuses
    image: str = ""  # template
    cpu: float = 1.0
    memory_gib: float = 0.5
    latest_created: str = ""
    latest_ready: str = ""
    pending: list[PendingUpdate] = field(default_factory=list)
    history: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    next_number: int = 1
    image_base: str = ""  # image repository; revisions get "{image_base}:vX.Y.Z"
    version: tuple[int, int, int] = (1, 0, 0)

    # --- the E1/E2 interface ---
    def rate_at(self, t: float) -> float:
        """Requests/s arriving at time t: a gentle daily curve (±20 %, peak mid-afternoon UTC)."""
        phase = (t % DAY) / DAY
        return self.base_rate * (1.0 + 0.2 * math.sin(2 * math.pi * (phase - 0.375)))

    def split_at(self, t: float) -> dict[str, float]:
        """Fraction of served traffic per revision short name at time t (sums to 1)."""
        percents = self.percents_at(t)
        total = sum(percents.values())
        if total <= 0:
            return {}
        return {name: p / total for name, p in percents.items()}

    def split_changes(self) -> list[tuple[float, dict[str, int]]]:
        """(time, percent per revision) for each change of served traffic, oldest first."""
        return [(t, dict(p)) for t, p in self.history]

    # --- helpers ---
    @property
    def reconciling(self) -> bool:
        return bool(self.pending)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def resource_name(self) -> str:
        return f"{self.parent}/services/{self.name}"

    def revision_resource(self, short: str) -> str:
        return f"{self.resource_name}/revisions/{short}"

    def percents_at(self, t: float) -> dict[str, int]:
        if not self.history:
            return {}
        current = self.history[0][1]
        for when, percents in self.history:
            if when <= t:
                current = percents
            else:
                break
        return dict(current)

    def served_percents(self) -> dict[str, int]:
        return self.history[-1][1] if self.history else {}

    def resolve(self, entries: list[TrafficEntry]) -> list[TrafficEntry]:
        """Written traffic → the statuses served: LATEST resolved to the latest ready revision."""
        if not entries:
            entries = [TrafficEntry(LATEST, "", 100, "")]
        out = []
        for entry in entries:
            revision = entry.revision if entry.type == REVISION else self.latest_ready
            out.append(TrafficEntry(entry.type, revision, entry.percent, entry.tag))
        return out

    def record_served(self, statuses: list[TrafficEntry], t: float) -> None:
        self.served = statuses
        percents: dict[str, int] = {}
        for status in statuses:
            if status.percent > 0 and status.revision:
                percents[status.revision] = percents.get(status.revision, 0) + status.percent
        if not self.history or self.history[-1][1] != percents:
            if self.history and t < self.history[-1][0]:
                t = self.history[-1][0]
            self.history.append((t, percents))

    def __repr__(self) -> str:
        return f"SimService({self.env}/{self.name} in {self.project}/{self.region})"


# ---------------------------------------------------------------------------------------
# Scenarios

@dataclass(frozen=True)
class FaultRate:
    """Calls of `method` ("*" for every method) fail with `code` with this probability."""

    method: str
    code: str
    probability: float


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    candidate: Callable[[Behavior], Behavior] = lambda stable: replace(stable)
    rate: float | None = None  # requests/s for every service (None: the per-service defaults)
    faults: tuple[FaultRate, ...] = ()
    setup: Callable[[Fleet], None] | None = None


def _regression(stable: Behavior) -> Behavior:
    return replace(stable, error_rate=0.08, error_messages=REGRESSION_ERRORS)


def _slow(stable: Behavior) -> Behavior:
    return replace(
        stable,
        latency_median_ms=stable.latency_median_ms * 3,
        cpu_utilization=min(0.95, stable.cpu_utilization * 1.8),
    )


def _crashloop(stable: Behavior) -> Behavior:
    return replace(
        stable,
        error_rate=0.6,
        crash_looping=True,
        startup_latency_ms=9_000.0,
        memory_utilization=0.92,
        error_messages=CRASHLOOP_ERRORS,
    )


def _oom(stable: Behavior) -> Behavior:
    return replace(stable, memory_utilization=0.55, memory_leak_per_minute=0.2)


def _coldstart(stable: Behavior) -> Behavior:
    return replace(stable, startup_latency_ms=stable.startup_latency_ms * 4, cold_start_probability=0.12)


def _incident(fleet: Fleet) -> None:
    targets = sorted(
        fleet.services(),
        key=lambda s: (not s.production, "backend" not in s.name, s.env, s.name),
    )
    if targets:
        fleet.seed_incident(targets[0])


SCENARIO_SPECS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("healthy", "the candidate behaves like stable"),
        Scenario("regression", "the candidate answers ≈ 8 % 5xx under load (smoke checks still pass)", _regression),
        Scenario("slow", "the candidate's latency is ×3 stable's", _slow),
        Scenario("crashloop", "the candidate's container keeps restarting: 503 on health checks", _crashloop),
        Scenario("low-traffic", "≈ 1 request/s for every service", rate=1.0),
        Scenario(
            "flaky-api",
            "a few percent of API calls fail UNAVAILABLE; ≈ 1 in 5 UpdateService calls conflict",
            faults=(FaultRate("UpdateService", "ABORTED", 0.2), FaultRate("*", "UNAVAILABLE", 0.04)),
        ),
        Scenario(
            "incident",
            "vinsight-backend in production: the newest revision took 100 % 20 minutes ago, 5xx ≈ 6 %",
            setup=_incident,
        ),
        Scenario("oom", "the candidate leaks memory: its instances are OOM-killed every ≈ 2 minutes, 503s follow",
                 _oom),
        Scenario("coldstart", "the candidate starts ×4 slower and ≈ 12 % of its requests start a new instance",
                 _coldstart),
    )
}


STABLE_ERRORS = (
    "upstream request timed out after 30s: GET https://query1.finance.example/v8/chart\n"
    "Traceback (most recent call last):\n"
    '  File "/app/vinsight/quotes.py", line 88, in fetch_chart\n'
    "    resp = await client.get(url, timeout=30)\n"
    '  File "/usr/local/lib/python3.11/site-packages/httpx/_client.py", line 1814, in get\n'
    "    return await self.request(\n"
    "httpx.ReadTimeout: timed out",
)

REGRESSION_ERRORS = (
    "Exception on /api/stock/AAPL [GET]\n"
    "Traceback (most recent call last):\n"
    '  File "/app/vinsight/api.py", line 142, in stock\n'
    "    return render_quote(quote)\n"
    '  File "/app/vinsight/render.py", line 37, in render_quote\n'
    '    "currency": quote["currency"],\n'
    "KeyError: 'currency'",
) + STABLE_ERRORS

CRASHLOOP_ERRORS = (
    "Container failed to start and listen on the port defined by PORT=8080\n"
    "Traceback (most recent call last):\n"
    '  File "/app/vinsight/main.py", line 12, in <module>\n'
    "    settings = Settings.from_env()\n"
    '  File "/app/vinsight/settings.py", line 54, in from_env\n'
    '    database_url=os.environ["DATABASE_URL"],\n'
    "KeyError: 'DATABASE_URL'",
)

INCIDENT_ERRORS = (
    "Exception on /api/stock/AAPL [GET]\n"
    "Traceback (most recent call last):\n"
    '  File "/app/vinsight/api.py", line 142, in stock\n'
    "    quote = cache.get_quote(symbol)\n"
    '  File "/app/vinsight/cache.py", line 61, in get_quote\n'
    "    return Quote.parse_raw(raw)\n"
    "pydantic.ValidationError: 1 validation error for Quote\nprice\n  field required",
    "Exception on /api/portfolio [GET]\n"
    "Traceback (most recent call last):\n"
    '  File "/app/vinsight/api.py", line 201, in portfolio\n'
    "    rows = await db.fetch_positions(user.id)\n"
    '  File "/app/vinsight/db.py", line 77, in fetch_positions\n'
    "    async with self.pool.acquire() as conn:\n"
    "asyncpg.exceptions.TooManyConnectionsError: sorry, too many clients already",
    "Exception on /api/stock/MSFT/history [GET]\n"
    "Traceback (most recent call last):\n"
    '  File "/app/vinsight/api.py", line 168, in history\n'
    "    points = downsample(series, buckets=int(request.args['n']))\n"
    '  File "/app/vinsight/series.py", line 23, in downsample\n'
    "    step = len(series) // buckets\n"
    "ZeroDivisionError: integer division or modulo by zero",
)


# ---------------------------------------------------------------------------------------
# Parsing and formatting resource limits

def parse_cpu(text: str) -> float:
    text = text.strip()
    if text.endswith("m"):
        return float(text[:-1]) / 1000.0
    return float(text)


def format_cpu(cpu: float) -> str:
    if cpu == int(cpu):
        return str(int(cpu))
    return f"{int(round(cpu * 1000))}m"


_MEMORY_UNITS = {"Ki": 1 / 1024**2, "Mi": 1 / 1024, "Gi": 1.0, "K": 1e3 / 1024**3, "M": 1e6 / 1024**3, "G": 1e9 / 1024**3}


def parse_memory(text: str) -> float:
    """A Kubernetes quantity ("512Mi", "2Gi", "1G") in GiB."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(Ki|Mi|Gi|K|M|G)?\s*", text)
    if not match:
        raise ValueError(f"not a memory quantity: {text!r}")
    number = float(match.group(1))
    unit = match.group(2)
    return number * _MEMORY_UNITS[unit] if unit else number / 1024**3


def format_memory(gib: float) -> str:
    if gib >= 1 and gib == int(gib):
        return f"{int(gib)}Gi"
    return f"{int(round(gib * 1024))}Mi"


def revision_number(name: str) -> int:
    match = re.search(r"-(\d{5})-[a-z0-9]{3}$", name)
    return int(match.group(1)) if match else 0


# ---------------------------------------------------------------------------------------
# The fleet

class Fleet:
    """Every simulated service of the config, with its revisions and traffic."""

    def __init__(self, config: Config, scenario: str = "healthy", clock: Clock | None = None, seed: int = 0):
        if scenario not in SCENARIO_SPECS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIO_SPECS)}")
        self.config = config
        self.clock = clock if clock is not None else Clock()
        self.seed = seed
        self.scenario = scenario
        self.spec = SCENARIO_SPECS[scenario]
        self.lock = threading.RLock()
        self.rng = random.Random(f"fleet/{seed}")
        # Cloud Run serves an accepted traffic change seconds later, not when the operation returns:
        # until then `traffic` (written) and `traffic_statuses` (served) differ and `reconciling` is set.
        self.reconcile_seconds = reconcile_seconds_from_env()
        self.started = self.clock.now()
        self._services: dict[tuple[str, str, str], SimService] = {}
        for target in config.targets():
            self._seed_service(target)
        if self.spec.setup is not None:
            self.spec.setup(self)

    # --- the E1/E2 interface ---
    def services(self) -> list[SimService]:
        with self.lock:
            self.refresh()
            return list(self._services.values())

    def find(self, project: str, region: str, name: str) -> SimService | None:
        with self.lock:
            self.refresh()
            return self._services.get((project, region, name))

    # --- seeding ---
    def new_etag(self) -> str:
        with self.lock:
            return "".join(self.rng.choices(string.ascii_letters + string.digits, k=16))

    def new_uid(self) -> str:
        with self.lock:
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def projects(self) -> set[str]:
        return {key[0] for key in self._services}

    def stable_behavior(self, service: SimService) -> Behavior:
        if "frontend" in service.name:
            return Behavior(
                error_rate=0.004,
                client_error_rate=0.02,
                latency_median_ms=40.0,
                latency_sigma=0.6,
                cpu_utilization=0.15,
                memory_utilization=0.3,
                startup_latency_ms=600.0,
                error_messages=STABLE_ERRORS,
            )
        return Behavior(
            error_rate=0.004,
            client_error_rate=0.01,
            latency_median_ms=180.0,
            latency_sigma=math.log(450 / 180) / 1.645,
            cpu_utilization=0.35,
            memory_utilization=0.45,
            startup_latency_ms=1400.0,
            error_messages=STABLE_ERRORS,
        )

    def candidate_behavior(self, service: SimService) -> Behavior:
        return self.spec.candidate(self.stable_behavior(service))

    def _base_rate(self, target: Target) -> float:
        if self.spec.rate is not None:
            return self.spec.rate
        frontend = "frontend" in target.service
        if target.environment.production:
            return 60.0 if frontend else 40.0
        return 8.0 if frontend else 10.0

    def _seed_service(self, target: Target) -> None:
        now = self.clock.now()
        rng = random.Random(f"service/{self.seed}/{target.env}/{target.service}")
        svc = SimService(
            project=target.project,
            region=target.region,
            name=target.service,
            env=target.env,
            revisions={},
            base_rate=self._base_rate(target),
            production=target.environment.production,
            smoke=tuple(target.settings.smoke),
            uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            create_time=now - 180 * DAY + rng.uniform(0, 30 * DAY),
            labels={"app": target.service, "env": target.env},
            etag=self.new_etag(),
            next_number=rng.randint(12, 60),
        )
        svc.image_base = target.settings.image or f"gcr.io/emulator/{target.service}"
        svc.version = (1, rng.randint(3, 9), rng.randint(0, 9))
        stable_b = self.stable_behavior(svc)
        old = self.add_revision(svc, now - 9 * DAY + rng.uniform(-3600, 3600), stable_b, ready=True, rng=rng)
        svc.next_number += rng.randint(0, 2)
        stable = self.add_revision(svc, now - 3 * DAY + rng.uniform(-3600, 3600), stable_b, ready=True, rng=rng)
        candidate = self.add_revision(
            svc, now - 600 + rng.uniform(-60, 60), self.candidate_behavior(svc), ready=True, rng=rng
        )
        tag = self.config.rollout.candidate_tag
        svc.traffic = [TrafficEntry(REVISION, stable.name, 100), TrafficEntry(REVISION, candidate.name, 0, tag)]
        svc.latest_ready = svc.latest_created = candidate.name
        svc.history = [(old.create_time, {old.name: 100})]
        svc.record_served(svc.resolve(svc.traffic), stable.create_time + 300)
        svc.generation = svc.observed_generation = rng.randint(20, 40)
        svc.update_time = candidate.create_time
        self._services[(svc.project, svc.region, svc.name)] = svc

    def _bump_version(self, svc: SimService, rng: random.Random) -> str:
        major, minor, patch = svc.version
        patch += rng.randint(1, 3)
        svc.version = (major, minor, patch)
        return f"{svc.image_base}:v{major}.{minor}.{patch}"

    def add_revision(
        self,
        svc: SimService,
        create_time: float,
        behavior: Behavior,
        *,
        ready: bool,
        rng: random.Random | None = None,
        image: str | None = None,
        cpu: float | None = None,
        memory_gib: float | None = None,
        name: str | None = None,
    ) -> SimRevision:
        """Append a revision (the next number) and make it the latest created."""
        with self.lock:
            rng = rng or self.rng
            if name is None:
                suffix = "".join(rng.choices(string.ascii_lowercase, k=3))
                name = f"{svc.name}-{svc.next_number:05d}-{suffix}"
            svc.next_number = max(svc.next_number, revision_number(name)) + 1
            rev = SimRevision(
                name=name,
                service=svc,
                create_time=create_time,
                image=image or self._bump_version(svc, rng),
                cpu=svc.cpu if cpu is None else cpu,
                memory_gib=svc.memory_gib if memory_gib is None else memory_gib,
                ready=ready,
                behavior=behavior,
                ready_at=None if ready else create_time + REVISION_READY_SECONDS,
                uid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                etag="".join(rng.choices(string.ascii_letters + string.digits, k=16)),
            )
            svc.revisions[name] = rev
            svc.latest_created = name
            svc.image, svc.cpu, svc.memory_gib = rev.image, rev.cpu, rev.memory_gib
            if ready:
                svc.latest_ready = name
            return rev

    def seed_incident(self, svc: SimService) -> None:
        """The newest revision took 100 % twenty minutes ago and serves ≈ 6 % 5xx since."""
        with self.lock:
            now = self.clock.now()
            rng = random.Random(f"incident/{self.seed}/{svc.name}")
            candidate = svc.revisions.pop(svc.latest_created)
            svc.next_number = candidate.number
            bad_behavior = replace(self.stable_behavior(svc), error_rate=0.06, error_messages=INCIDENT_ERRORS)
            bad = self.add_revision(svc, now - 35 * 60, bad_behavior, ready=True, rng=rng, name=candidate.name)
            bad.image = candidate.image
            svc.traffic = [TrafficEntry(REVISION, bad.name, 100)]
            # Its 10 % step, then 100 % (the rollout that went wrong).
            svc.record_served(
                [TrafficEntry(REVISION, self._stable_name(svc), 90), TrafficEntry(REVISION, bad.name, 10)],
                now - 30 * 60,
            )
            svc.record_served(svc.resolve(svc.traffic), now - 20 * 60)
            svc.generation += 2
            svc.observed_generation = svc.generation
            svc.update_time = now - 20 * 60

    @staticmethod
    def _stable_name(svc: SimService) -> str:
        served = svc.served_percents()
        return max(served, key=served.__getitem__) if served else next(iter(svc.revisions))

    # --- time passing ---
    def refresh(self) -> None:
        """Apply what the clock says has happened: revisions turned ready, updates reconciled."""
        with self.lock:
            now = self.clock.now()
            for svc in self._services.values():
                for pending in list(svc.pending):
                    if pending.done_at <= now:
                        self.complete(svc, pending.generation, at=pending.done_at)
                became_ready = False
                for rev in svc.revisions.values():
                    if not rev.ready and rev.ready_at is not None and rev.ready_at <= now:
                        rev.ready = True
                        became_ready = True
                if became_ready:
                    ready = [r for r in svc.revisions.values() if r.ready]
                    svc.latest_ready = max(ready, key=lambda r: (r.number, r.create_time)).name
                    if not svc.pending:
                        svc.record_served(svc.resolve(svc.traffic), now)

    def complete(self, svc: SimService, generation: int, at: float | None = None) -> None:
        """Finish every pending update of `svc` up to `generation`: it now serves that traffic."""
        with self.lock:
            t = self.clock.now() if at is None else min(at, self.clock.now())
            done = [p for p in svc.pending if p.generation <= generation]
            if not done:
                return
            last = max(done, key=lambda p: p.generation)
            svc.pending = [p for p in svc.pending if p.generation > generation]
            svc.observed_generation = max(svc.observed_generation, last.generation)
            svc.record_served(svc.resolve(last.traffic), t)

    def smoke_checks(self, svc: SimService) -> tuple[SmokeCheck, ...]:
        return svc.smoke
