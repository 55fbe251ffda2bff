"""Service level objectives, error-budget burn rates and multi-window, multi-burn-rate alerts (pure).

Two SLOs per service (config.toml, `[services.NAME]`):

- availability: `availability_target_percent` of requests are not 5xx (e.g. 99.5 % → budget 0.5 %);
- latency: `latency_target_percent` of requests finish under `latency_target_ms` (e.g. 95 % under
  1 s → budget 5 %). "Slow" is counted from the `request_latencies` histogram at the bucket edge
  nearest the target (`Histogram.snap`), so the count is exact rather than interpolated.

A burn rate is the bad fraction over a window divided by the budget fraction: 1× spends the
budget exactly over the SLO period, 14.4× spends 2 % of a 30-day budget in one hour.

Alerts follow the Google SRE workbook (chapter 5, "Alerting on SLOs", multiwindow,
multi-burn-rate): an alert fires only when both its long and its short window burn above its
rate — the long window proves it matters, the short one that it is still happening.

    page    14.4× over 1 h and 5 min
    page    6×    over 6 h and 30 min
    ticket  1×    over 3 d and 6 h   (TICKET_RULE: not in ALERT_RULES — the console reads at most
                                       a day of metrics per refresh, so 3 d is never available)

Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from console.distribution import Histogram

# label → seconds, in display order
BURN_WINDOWS: dict[str, int] = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600}

LEVELS = ("ok", "ticket", "page")  # rising severity


@dataclass(frozen=True)
class SloTargets:
    availability_percent: float = 99.5
    latency_ms: float = 1000.0
    latency_percent: float = 95.0

    @property
    def availability_budget(self) -> float:
        """Allowed fraction of 5xx (0.005 for 99.5 %)."""
        return 1.0 - self.availability_percent / 100.0

    @property
    def latency_budget(self) -> float:
        """Allowed fraction of requests slower than the target (0.05 for 95 %)."""
        return 1.0 - self.latency_percent / 100.0

    @classmethod
    def of(cls, settings: object) -> SloTargets:
        """From a config `Service` (anything with the three attributes; defaults where missing)."""
        return cls(
            availability_percent=float(getattr(settings, "availability_target_percent", 99.5)),
            latency_ms=float(getattr(settings, "latency_target_ms", 1000.0)),
            latency_percent=float(getattr(settings, "latency_target_percent", 95.0)),
        )


@dataclass(frozen=True)
class SloSample:
    """One aligned window of one service (all revisions summed): (start, end]."""

    start: float
    end: float
    requests: int
    errors: int  # 5xx
    slow: int | None = None  # requests at or above the snapped latency edge; None: no latency data


@dataclass(frozen=True)
class AlertRule:
    level: str  # page | ticket
    burn_rate: float
    long_seconds: int
    short_seconds: int

    @property
    def long_label(self) -> str:
        return window_label(self.long_seconds)

    @property
    def short_label(self) -> str:
        return window_label(self.short_seconds)


ALERT_RULES: tuple[AlertRule, ...] = (
    AlertRule("page", 14.4, 3600, 300),
    AlertRule("page", 6.0, 21600, 1800),
)
TICKET_RULE = AlertRule("ticket", 1.0, 3 * 86400, 21600)


@dataclass(frozen=True)
class Burn:
    """Burn rates over one window (None: no requests in it)."""

    label: str
    seconds: int
    requests: int
    errors: int
    slow: int | None
    availability: float | None
    latency: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def rate(self, slo: str) -> float | None:
        return self.availability if slo == "availability" else self.latency


@dataclass(frozen=True)
class Alert:
    level: str  # ok | ticket | page
    slo: str | None = None  # availability | latency
    rule: AlertRule | None = None
    reason: str = ""


@dataclass(frozen=True)
class SloStatus:
    targets: SloTargets
    burns: Mapping[str, Burn]  # by label ("5m", "30m", "1h", "6h")
    alert: Alert
    latency_edge_ms: float | None = None  # the bucket edge "slow" was counted at
    windows: Mapping[str, int] = field(default_factory=lambda: dict(BURN_WINDOWS))

    def max_burn(self, slo: str | None = None) -> float:
        """The highest burn rate over the short windows (5 min, 30 min) — how hot it is now."""
        rates = []
        for label in ("5m", "30m"):
            burn = self.burns.get(label)
            if burn is None:
                continue
            for name in (slo,) if slo else ("availability", "latency"):
                value = burn.rate(name)
                if value is not None:
                    rates.append(value)
        return max(rates, default=0.0)


def window_label(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def burn_rate(bad: int, total: int, budget: float) -> float | None:
    """bad/total over the budget fraction; None when there were no requests."""
    if total <= 0:
        return None
    if budget <= 0:
        raise ValueError("an SLO of 100 % has no error budget to burn")
    return (bad / total) / budget


def slow_count(histogram: Histogram | None, latency_ms: float) -> tuple[int | None, float | None]:
    """(requests at or above the bucket edge nearest `latency_ms`, that edge); (None, None) without data."""
    if histogram is None or not histogram.bounds:
        return None, None
    edge = histogram.snap(latency_ms)
    return histogram.count_at_or_above(edge), edge


def burns(samples: Iterable[SloSample], end: float, targets: SloTargets,
          windows: Mapping[str, int] = BURN_WINDOWS) -> dict[str, Burn]:
    """Burn rates over each window ending at `end` (samples whose end lies in (end − w, end])."""
    samples = list(samples)
    out: dict[str, Burn] = {}
    for label, seconds in windows.items():
        inside = [s for s in samples if end - seconds < s.end <= end]
        requests = sum(s.requests for s in inside)
        errors = sum(min(s.errors, s.requests) for s in inside)
        with_latency = [s for s in inside if s.slow is not None]
        slow = sum(min(s.slow or 0, s.requests) for s in with_latency) if with_latency else None
        latency_requests = sum(s.requests for s in with_latency)
        out[label] = Burn(
            label=label,
            seconds=seconds,
            requests=requests,
            errors=errors,
            slow=slow,
            availability=burn_rate(errors, requests, targets.availability_budget),
            latency=burn_rate(slow, latency_requests, targets.latency_budget) if slow is not None else None,
        )
    return out


def alert_for(burn_by_label: Mapping[str, Burn], rules: Sequence[AlertRule] = ALERT_RULES) -> Alert:
    """The most severe rule whose long and short windows both burn at or above its rate.

    Rules whose windows were not computed are skipped (e.g. the 3-day ticket rule).
    """
    fired: list[tuple[int, float, float, Alert]] = []
    for rule in rules:
        long_ = burn_by_label.get(rule.long_label)
        short = burn_by_label.get(rule.short_label)
        if long_ is None or short is None:
            continue
        for slo, what in (("availability", "5xx"), ("latency", "slow requests")):
            lr, sr = long_.rate(slo), short.rate(slo)
            if lr is None or sr is None or lr < rule.burn_rate or sr < rule.burn_rate:
                continue
            reason = (
                f"{what} burn the error budget {lr:.1f}× over {_words(rule.long_seconds)} and {sr:.1f}× over "
                f"{_words(rule.short_seconds)} ({rule.level} at {rule.burn_rate:g}×)"
            )
            # most severe level, then the fastest-burning rule, then the widest margin over it
            fired.append((LEVELS.index(rule.level), rule.burn_rate, min(lr, sr) / rule.burn_rate,
                          Alert(rule.level, slo, rule, reason)))
    if not fired:
        return Alert("ok")
    fired.sort(key=lambda f: f[:3], reverse=True)
    return fired[0][3]


def evaluate(samples: Iterable[SloSample], end: float, targets: SloTargets,
             rules: Sequence[AlertRule] = ALERT_RULES, latency_edge_ms: float | None = None) -> SloStatus:
    by_label = burns(samples, end, targets)
    return SloStatus(targets=targets, burns=by_label, alert=alert_for(by_label, rules), latency_edge_ms=latency_edge_ms)


def severity_key(level: str, burn_now: float, production: bool, error_rate: float | None = None) -> tuple:
    """Sort key, larger = more severe: alert level, then how fast the budget burns now, then
    production before other environments, then the raw 5xx rate."""
    return (LEVELS.index(level) if level in LEVELS else 0, round(burn_now, 6), bool(production), error_rate or 0.0)


def rank(items: Iterable, key) -> list:
    """Most severe first; `key(item)` returns `severity_key(...)`. Stable for equal keys."""
    return sorted(items, key=key, reverse=True)


def _words(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"
