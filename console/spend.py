"""What the fleet has cost this month: the I/O behind the budget (`vinconsole cost`, the screens).

The arithmetic is console.cost's; this reads Cloud Monitoring's daily usage per revision and the
revisions' sizes from Cloud Run.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from console.clock import Clock
from console.config import Config, Target
from console.cost import TRAILING_FORECAST_SECONDS, Usage, month_forecast, window_cost
from console.gcp.clients import Clients
from console.gcp.monitoring import Metrics
from console.gcp.run import CloudRun
from console.model import Revision
from console.status import FleetStatus


def month_start(now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    return datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()


def month_seconds(now: float) -> float:
    d = datetime.fromtimestamp(now, UTC)
    nxt = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=UTC).timestamp()
    return nxt - month_start(now)


@dataclass
class MonthToDate:
    """Spend since the 1st of the month (UTC) per "env/service", in USD, with the month's forecast."""

    per_service: dict[str, float] = field(default_factory=dict)  # "env/service" → USD
    total: float = 0.0
    forecast: float | None = None
    forecast_basis: str = ""  # console.cost.Forecast.basis: what the forecast extrapolates
    read_at: float = 0.0
    api_calls: int = 0


class SpendReader:
    def __init__(self, config: Config, clients: Clients, clock: Clock):
        self.config = config
        self.clock = clock
        self.metrics = Metrics(clients)
        self.run = CloudRun(clients)
        self._resources: dict[tuple[str, str], Revision] = {}  # (target key, revision) → Revision
        self._lock = threading.Lock()

    def month_to_date(self, targets: Sequence[Target], fleet: FleetStatus | None = None) -> MonthToDate:
        """Spend per service since the 1st (UTC), and the month's forecast.

        Monitoring's aligned windows end at the query's end and reach back a whole alignment period,
        so the month is read as ONE window exactly from the 1st to now (a daily period would reach up
        to a day into the previous month). Early in the month the forecast needs the last 24 h as
        well (console.cost.month_forecast), read the same way.
        """
        now = self.clock.now()
        start = month_start(now)
        end = now // 60 * 60
        elapsed = end - start
        out = MonthToDate(read_at=now)
        trailing_day = self._spend(targets, fleet, end - 86400, end, out) if elapsed < TRAILING_FORECAST_SECONDS else {}
        out.per_service = self._spend(targets, fleet, start, end, out) if elapsed >= 60 else {t.key: 0.0 for t in targets}
        out.total = sum(out.per_service.values())
        forecast = month_forecast(
            out.total, elapsed, month_seconds(now), sum(trailing_day.values()) if trailing_day else None
        )
        out.forecast, out.forecast_basis = forecast.usd, forecast.basis
        return out

    def _spend(
        self, targets: Sequence[Target], fleet: FleetStatus | None, start: float, end: float, out: MonthToDate
    ) -> dict[str, float]:
        """USD per service over [start, end]: one ListTimeSeries group per project and region with a
        single window, priced per revision (its CPU and memory from Cloud Run, read once and kept)."""
        groups: dict[tuple[str, str], list[Target]] = defaultdict(list)
        for target in targets:
            groups[(target.project, target.region)].append(target)
        known = {f"{s.env}/{s.service}": {r.name for r in s.revisions} for s in fleet.services} if fleet else {}
        spent: dict[str, float] = {}
        for (project, region), members in groups.items():
            windows = self.metrics.revision_windows(project, region, start, end, period=int(end - start), latency=False)
            out.api_calls += 3
            for target in members:
                names = {rev for (svc, rev) in windows if svc == target.service}
                with self._lock:
                    missing = [n for n in names | known.get(target.key, set()) if (target.key, n) not in self._resources]
                if missing:
                    out.api_calls += 1
                    for listed in self.run.list_revisions(project, region, target.service):
                        with self._lock:
                            self._resources[(target.key, listed.name)] = listed
                total = 0.0
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
                        total += window_cost(usage, self.config.pricing)
                spent[target.key] = total
        return spent
