"""The I/O the screens need, in one place; every method blocks and runs in a worker thread.

- `read(targets)`: the fleet snapshot (console.status.StatusReader; calls do not grow with revisions).
- `month_to_date(targets)`: spend per service this month (one ListTimeSeries group per project and
  region at a daily period), refreshed on a slow cadence by the caller.
- `series(target)`: 5xx % and p95 per minute per revision for the sparklines (two calls).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from console.clock import Clock
from console.config import Config, Target
from console.cost import Usage, month_forecast, window_cost
from console.gcp.clients import Clients
from console.gcp.monitoring import Metrics
from console.gcp.run import CloudRun
from console.model import Revision
from console.status import FleetStatus, StatusReader

SPARK_WINDOWS = 30


def month_start(now: float) -> float:
    d = datetime.fromtimestamp(now, timezone.utc)
    return datetime(d.year, d.month, 1, tzinfo=timezone.utc).timestamp()


def month_fraction(now: float) -> float:
    d = datetime.fromtimestamp(now, timezone.utc)
    start = month_start(now)
    nxt = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=timezone.utc).timestamp()
    return (now - start) / (nxt - start)


@dataclass
class MonthToDate:
    per_service: dict[str, float] = field(default_factory=dict)  # "env/service" → USD
    total: float = 0.0
    forecast: float | None = None
    read_at: float = 0.0
    api_calls: int = 0


@dataclass
class Series:
    """Per revision, oldest first: 5xx % and p95 ms per window (windows without data skipped)."""

    errors: dict[str, list[float]] = field(default_factory=dict)
    p95: dict[str, list[float]] = field(default_factory=dict)
    windows: dict = field(default_factory=dict)  # the raw RevisionWindows, for the shadow judge
    end: float = 0.0
    api_calls: int = 0


class FleetData:
    def __init__(self, config: Config, clients: Clients, clock: Clock):
        self.config = config
        self.clients = clients
        self.clock = clock
        self.reader = StatusReader(config, clients, clock)
        self.metrics = Metrics(clients)
        self.run = CloudRun(clients)
        self._resources: dict[tuple[str, str], Revision] = {}  # (target key, revision) → Revision
        self._lock = threading.Lock()

    def read(self, targets: Sequence[Target]) -> FleetStatus:
        return self.reader.read(targets)

    def month_to_date(self, targets: Sequence[Target], fleet: FleetStatus | None = None) -> MonthToDate:
        now = self.clock.now()
        start = month_start(now)
        end = now // 60 * 60
        out = MonthToDate(read_at=now)
        groups: dict[tuple[str, str], list[Target]] = defaultdict(list)
        for target in targets:
            groups[(target.project, target.region)].append(target)
        known = {f"{s.env}/{s.service}": {r.name for r in s.revisions} for s in fleet.services} if fleet else {}
        for (project, region), members in groups.items():
            windows = self.metrics.revision_windows(project, region, start, end, period=86400, latency=False)
            out.api_calls += 3
            for target in members:
                names = {rev for (svc, rev) in windows if svc == target.service}
                with self._lock:
                    missing = [n for n in names | known.get(target.key, set()) if (target.key, n) not in self._resources]
                if missing:
                    out.api_calls += 1
                    for revision in self.run.list_revisions(project, region, target.service):
                        with self._lock:
                            self._resources[(target.key, revision.name)] = revision
                spent = 0.0
                for (svc, rev), per_window in windows.items():
                    if svc != target.service:
                        continue
                    with self._lock:
                        revision = self._resources.get((target.key, rev))
                    if revision is None:
                        continue
                    for w in per_window.values():
                        usage = Usage(
                            w.end - w.start, w.billable_instance_seconds or 0.0, w.requests,
                            revision.cpu, revision.memory_gib, target.settings.billing,
                        )
                        spent += window_cost(usage, self.config.pricing)
                out.per_service[target.key] = spent
        out.total = sum(out.per_service.values())
        out.forecast = month_forecast(out.total, month_fraction(now))
        return out

    def series(self, target: Target, windows: int = SPARK_WINDOWS, since: float | None = None) -> Series:
        period = self.config.analysis.window_seconds
        now = self.clock.now()
        end = (now - self.config.analysis.metric_delay_seconds) // period * period
        start = end - windows * period
        if since is not None:  # reach back to the start of the current step (for the judge)
            start = min(start, since // period * period)
        raw = self.metrics.revision_windows(
            target.project, target.region, start, end, service=target.service, period=period, usage=False
        )
        out = Series(windows=raw, end=end, api_calls=2)
        for (svc, revision), per_window in raw.items():
            ordered = [per_window[k] for k in sorted(per_window)]
            out.errors[revision] = [100.0 * w.errors / w.requests for w in ordered if w.requests]
            out.p95[revision] = [w.latency.percentile(0.95) for w in ordered if w.latency is not None and w.latency.count]
        return out
