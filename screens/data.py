"""The I/O the screens need, in one place; every method blocks and runs in a worker thread.

- `read(targets)`: the fleet snapshot (console.status.StatusReader; calls do not grow with revisions).
- `month_to_date(targets)`: spend per service this month (console.spend), refreshed on a slow
  cadence by the caller.
- `series(target)`: 5xx % and p95 per minute per revision for the sparklines (two calls).
- `recent_traffic(target)`: the same from Cloud Run's request log in 10 s buckets, seconds behind
  (the project's one live tail, shared with the engine; ListLogEntries only to read back).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from console.clock import Clock
from console.config import Config, Target
from console.distribution import Histogram
from console.errors import ApiError
from console.gcp.clients import Clients
from console.gcp.monitoring import Metrics
from console.requestlog import BUCKET_SECONDS, RecentTraffic
from console.requestlog_feed import RequestLogFeed, feed_for
from console.spend import MonthToDate, SpendReader
from console.status import FleetStatus, StatusReader

SPARK_WINDOWS = 30
RECENT_READ_BACK_SECONDS = 120  # what a service screen reads back of the request log when it starts watching


@dataclass
class Series:
    """Per revision, oldest first: 5xx % and p95 ms per window (windows without data skipped); CPU and
    memory p95 (fractions of the limits) and cold starts (container starts ÷ requests) per window."""

    errors: dict[str, list[float]] = field(default_factory=dict)
    p95: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    memory: dict[str, list[float]] = field(default_factory=dict)
    cold: dict[str, list[float]] = field(default_factory=dict)
    saturation_error: str | None = None  # the saturation read failed: the panels say so, RED figures stay
    windows: dict = field(default_factory=dict)  # the raw RevisionWindows, for the shadow judge
    end: float = 0.0
    api_calls: int = 0


class FleetData:
    def __init__(self, config: Config, clients: Clients, clock: Clock, log_clients: Clients | None = None):
        self.config = config
        self.clients = clients
        self.log_clients = log_clients or clients  # the request log's tail is one per project and these clients
        self.clock = clock
        self.reader = StatusReader(config, clients, clock)
        self.metrics = Metrics(clients)
        self.spend = SpendReader(config, clients, clock)
        self._feeds: dict[tuple[str, str], RequestLogFeed] = {}
        self._pulled: dict[tuple[str, str], float] = {}  # clock time of a pull feed's last read

    def read(self, targets: Sequence[Target]) -> FleetStatus:
        return self.reader.read(targets)

    def month_to_date(self, targets: Sequence[Target], fleet: FleetStatus | None = None) -> MonthToDate:
        return self.spend.month_to_date(targets, fleet)

    def recent_traffic(self, target: Target, buckets: int = SPARK_WINDOWS) -> RecentTraffic | None:
        """The service's last `buckets` request-log buckets per revision; None under `source = "monitoring"`
        or while none of its entries have come (the request log is excluded, or is still being read back)."""
        if self.config.analysis.source == "monitoring":
            return None
        key = (target.project, target.region)
        feed = self._feeds.get(key)
        if feed is None:  # the project's shared tail on a running clock; its own pull feed on a still one
            feed = self._feeds[key] = feed_for(self.log_clients, target.project, target.region, self.clock)
        now = self.clock.now()
        if target.service not in feed.services:
            feed.watch(target.service, now - min(RECENT_READ_BACK_SECONDS, buckets * BUCKET_SECONDS))
        elif (not feed.live or feed.tail_down) and now - self._pulled.get(key, -math.inf) >= BUCKET_SECONDS / 2:
            feed.pull()  # no tail: read what arrived, at most twice a bucket (the lines move once a bucket)
            self._pulled[key] = now
        feed.log.prune(now)
        return feed.log.recent(target.service, buckets)

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
        for (_svc, revision), per_window in raw.items():
            ordered = [per_window[k] for k in sorted(per_window)]
            out.errors[revision] = [100.0 * w.errors / w.requests for w in ordered if w.requests]
            p95s = (w.latency.percentile(0.95) for w in ordered if w.latency is not None)
            out.p95[revision] = [p95 for p95 in p95s if p95 is not None]  # None: no requests in that window
        try:
            saturation = self.metrics.saturation_windows(target.project, target.region, start, end,
                                                         service=target.service, period=period)
        except ApiError as error:  # secondary figures: the RED sparklines stay, the panel says why these are missing
            out.saturation_error = str(error)
            return out
        out.api_calls += 4
        for (svc, revision), by_end in saturation.items():
            windows_in_order = [by_end[k] for k in sorted(by_end)]
            counts = raw.get((svc, revision), {})
            out.cpu[revision] = _percentiles(w.cpu for w in windows_in_order)
            out.memory[revision] = _percentiles(w.memory for w in windows_in_order)
            out.cold[revision] = [
                min(1.0, (w.startup.count if w.startup else 0) / counts[w.end].requests)  # as status caps it
                for w in windows_in_order if w.end in counts and counts[w.end].requests
            ]
        return out


def _percentiles(histograms: Iterable[Histogram | None], q: float = 0.95) -> list[float]:
    values = (h.percentile(q) for h in histograms if h is not None)
    return [v for v in values if v is not None]
