"""Sample sources: where the judge's per-revision counts of a step come from.

The engine's bake loop calls `SampleSource.read(...)` once per look and gets the step's samples,
the source they came from, why it is not the request log (when it is not), and the minimum bake
that source needs. Two sources:

- `MonitoringSource`: Cloud Monitoring's complete 60 s windows — today's path, minutes behind
  (the metric delay), so its floor is `[rollout] bake_seconds` (default 300 s).
- `RequestLogSource`: Cloud Run's request log in 10 s buckets, seconds behind, floor
  `[rollout] logs_bake_seconds` (default 60 s). Under `[analysis] source = "auto"` it checks
  itself against Monitoring's complete windows as they arrive and falls back to Monitoring for
  the rest of the rollout when the log is missing, stalled or disagrees (console/source_policy.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from console.errors import VinconsoleError
from console.judge import Sample
from console.requestlog import BUCKET_SECONDS, complete_buckets
from console.samples import first_window_start, last_complete_end, leave_out_cold_windows, step_samples
from console.source_policy import Source, SourceChoice, WindowCheck, choose_source

if TYPE_CHECKING:  # pragma: no cover
    from console.clock import Clock
    from console.config import Config, Target
    from console.gcp.clients import Clients
    from console.gcp.monitoring import Metrics
    from console.requestlog_feed import RequestLogFeed

LOGS_POLL_SECONDS = 5.0  # clock seconds between looks on the request log (buckets are 10 s), at most ...
LOGS_LOOK_MARGIN_SECONDS = 0.5  # ... and the next look comes this long after the watermark should pass a bucket's end


@dataclass(frozen=True)
class StepView:
    """What a source needs to know of the step being judged."""

    candidate: str
    stable: str
    started: float
    slow_ms: float | None


@dataclass(frozen=True)
class SourceReading:
    samples: list[Sample]
    source: Source
    min_bake_seconds: float
    poll_seconds: float
    fallback: str | None = None  # why the request log is not the source (auto)
    data_until: float | None = None  # counts are complete up to this time (the data's age: now − this)
    unknown: int = 0  # buckets left out because entries may be missing

    def describe(self, now: float) -> str:
        n = len(self.samples)
        if self.source == Source.LOGS:
            text = f"{n} bucket{'' if n == 1 else 's'} of {BUCKET_SECONDS:g} s from the request log"
        else:
            text = f"{n} complete window{'' if n == 1 else 's'} from Cloud Monitoring"
        if self.data_until is not None:
            text += f", data {max(0.0, now - self.data_until):.0f} s old"
        if self.unknown:
            text += f", {self.unknown} unknown (entries may be missing)"
        return text


class SampleSource(Protocol):
    def read(self, step: StepView, now: float) -> SourceReading: ...


class MonitoringSource:
    """Complete Monitoring windows of the step (wholly inside it, filled by the metric delay)."""

    def __init__(self, config: Config, target: Target, metrics: Metrics):
        self.target = target
        self.metrics = metrics
        self.period = config.analysis.window_seconds
        self.delay = config.analysis.metric_delay_seconds
        self.tail_factor = config.analysis.tail_factor
        self.warmup = config.analysis.warmup_seconds
        self.min_bake = target.rollout.bake_seconds
        self.poll = max(5.0, self.period / 4)

    def read(self, step: StepView, now: float, fallback: str | None = None) -> SourceReading:
        t = self.target
        start = first_window_start(step.started, self.period)
        end = last_complete_end(now, self.period, self.delay)
        samples: list[Sample] = []
        if end > start:
            windows = self.metrics.revision_windows(
                t.project, t.region, start, end, service=t.service, period=self.period, usage=False
            )
            samples = step_samples(windows, t.service, step.candidate, step.stable, start, end, self.period, step.slow_ms,
                                   self.tail_factor)
            try:
                starts = self.metrics.container_starts(t.project, t.region, start, end, service=t.service,
                                                       period=self.period)
            except VinconsoleError:  # the latency tests keep only the step's warm-up: the 5xx judge goes on
                starts = {}
            samples = leave_out_cold_windows(samples, starts.get((t.service, step.candidate), {}),
                                             step.started + self.warmup)
        return SourceReading(samples, Source.MONITORING, self.min_bake, self.poll, fallback,
                             data_until=end if end > start else None)

    def window_checks(self, step: StepView, log_counts: dict[tuple[str, float], int], start: float, end: float) -> list[WindowCheck]:
        """Monitoring's request counts of complete windows in (start, end] beside the log's."""
        t = self.target
        windows = self.metrics.revision_windows(
            t.project, t.region, start, end, service=t.service, period=self.period, latency=False, usage=False
        )
        checks = []
        for revision in (step.stable, step.candidate):
            for window_end, stats in sorted(windows.get((t.service, revision), {}).items()):
                checks.append(WindowCheck(revision, window_end - self.period, window_end, stats.requests,
                                          log_counts.get((revision, window_end), 0)))
        return checks


def next_look(started: float, watermark: float | None) -> float:
    """Clock seconds to the next look at the request log: just after the watermark should pass the
    end of the step's next bucket (it moves with the clock while entries flow), so a bucket is judged
    when it completes rather than up to a poll later; never sooner than a second (each look also reads
    the service from Cloud Run), never later than ``LOGS_POLL_SECONDS``."""
    if watermark is None:
        return LOGS_POLL_SECONDS
    due = started + (complete_buckets(started, watermark) + 1) * BUCKET_SECONDS - watermark + LOGS_LOOK_MARGIN_SECONDS
    return min(LOGS_POLL_SECONDS, max(1.0, due))


class RequestLogSource:
    """The request log's buckets, under the source policy, with Monitoring as the fallback."""

    def __init__(self, config: Config, target: Target, feed: RequestLogFeed, monitoring: MonitoringSource):
        self.policy = config.analysis.source
        self.target = target
        self.feed = feed
        self.monitoring = monitoring
        self.min_bake = target.rollout.logs_bake_seconds
        self.tail_factor = config.analysis.tail_factor
        self.instance_warmup = config.analysis.instance_warmup_seconds
        self.looking_since: float | None = None
        self.fell_back: str | None = None  # sticky for the rollout: one source per rollout once it fell back
        self.checked_until: float | None = None  # Monitoring windows cross-checked up to here
        self.checks: list[WindowCheck] = []

    def read(self, step: StepView, now: float) -> SourceReading:
        if self.fell_back is not None:
            return self.monitoring.read(step, now, self.fell_back)
        # kept from the step's start, and from the first Monitoring window still to cross-check
        checked_from = self.checked_until if self.checked_until is not None else (self.looking_since or now) - self.monitoring.period
        # (and from an instance warm-up before the step, to tell which instances already served)
        needed_from = min(step.started - self.instance_warmup, checked_from) - 2 * BUCKET_SECONDS
        forgotten = self.feed.log.need(self.target.service, needed_from, now)
        if forgotten is not None and not self.feed.backfill([self.target.service], forgotten[0], clear=False,
                                                            until=forgotten[1]):
            self.feed.log.mark_unknown(*forgotten, self.feed.error or "the request log could not be read back",
                                       self.target.service)
        if self.looking_since is None:
            self.looking_since = now
            # stable's entries from a little before the step show that the log flows
            self.feed.watch(self.target.service, min(step.started, now) - 2 * BUCKET_SECONDS)
        elif not self.feed.live or self.feed.tail_down:
            self.feed.pull()
        log = self.feed.log
        log.prune(now)
        choice = self._choose(step, now)
        if choice.source == Source.MONITORING:
            self.fell_back = choice.reason
            return self.monitoring.read(step, now, choice.reason)
        buckets, unknown = log.step_buckets(self.target.service, step.candidate, step.stable, step.started, step.slow_ms,
                                            instance_warmup=self.instance_warmup)
        watermark = log.watermark()
        tail_ms = step.slow_ms * self.tail_factor if step.slow_ms is not None else None
        return SourceReading([b.sample(tail_ms) for b in buckets], Source.LOGS, self.min_bake,
                             next_look(step.started, watermark), data_until=watermark, unknown=len(unknown))

    def _choose(self, step: StepView, now: float) -> SourceChoice:
        log = self.feed.log
        if self.policy == "auto":
            self._cross_check(step, now)
        assert self.looking_since is not None
        return choose_source(
            self.policy,
            now=now,
            looking_since=self.looking_since,
            stable=step.stable,
            stable_last_received=log.last_received(self.target.service, step.stable),
            service_last_received=log.last_received(self.target.service),
            checks=self.checks,
        )

    def _cross_check(self, step: StepView, now: float) -> None:
        """Compare the log with each Monitoring window that completed since the last look."""
        period, log = self.monitoring.period, self.feed.log
        watermark = log.watermark()
        if watermark is None:
            return
        start = max(first_window_start(self.looking_since or now, period), self.checked_until or 0.0)
        end = min(last_complete_end(now, period, self.monitoring.delay), last_complete_end(watermark, period, 0.0))
        if end <= start:
            return
        unknown = log.unknown(self.target.service)
        counts: dict[tuple[str, float], int] = {}
        window_end = start + period
        while window_end <= end:
            if not any(u.overlaps(window_end - period, window_end) for u in unknown):
                for entry in log.entries(self.target.service, window_end - period, window_end):
                    key = (entry.revision, window_end)
                    counts[key] = counts.get(key, 0) + 1
            window_end += period
        checks = self.monitoring.window_checks(step, counts, start, end)
        self.checks = [c for c in checks if not any(u.overlaps(c.start, c.end) for u in unknown)]
        self.checked_until = end


def sample_source(config: Config, target: Target, clients: Clients, clock: Clock, metrics: Metrics) -> SampleSource:
    """The source `[analysis] source` asks for (the request log one shares the project's tail)."""
    monitoring = MonitoringSource(config, target, metrics)
    if config.analysis.source == "monitoring":
        return monitoring
    from console.requestlog_feed import feed_for

    return RequestLogSource(config, target, feed_for(clients, target.project, target.region, clock), monitoring)
