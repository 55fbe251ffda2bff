"""Service-level figures from a ServiceStatus (pure): what a fleet row and the health symbol show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.saturation import COLD_START_WARNING

ERROR_BAD = 0.05  # 5xx above this on a serving revision: bad
ERROR_WARN = 0.02


@dataclass(frozen=True)
class ServiceSummary:
    request_rate: float | None
    error_rate: float | None
    p95_ms: float | None  # the worst p95 among revisions that serve traffic
    cost_per_hour: float | None
    split: dict[str, int]
    health: str  # ok | warn | bad | unknown
    health_word: str


def summarize(service: Any, cold_start_warning: float = COLD_START_WARNING) -> ServiceSummary:
    """`service` is a console.status.ServiceStatus (duck-typed so widgets stay I/O free);
    `cold_start_warning`: `analysis.cold_start_warning_percent` as a fraction."""
    if service.error:
        return ServiceSummary(None, None, None, None, {}, "bad", "unreadable")
    split = {r.name: r.traffic_percent for r in service.revisions if r.traffic_percent}
    serving = [r for r in service.revisions if r.traffic_percent or r.request_rate]
    rates = [r.request_rate for r in serving if r.request_rate is not None]
    requests = sum(r.requests or 0 for r in serving)
    errors = sum(r.errors or 0 for r in serving)
    p95s = [r.p95_ms for r in serving if r.p95_ms is not None]
    costs = [r.cost_per_hour for r in service.revisions if r.cost_per_hour is not None]
    error_rate = errors / requests if requests else None
    health, word = "ok", "healthy"
    not_ready = [r for r in service.revisions if r.traffic_percent and not r.ready]
    phase = (service.rollout or {}).get("phase")
    if not_ready:
        health, word = "bad", "not ready"
    elif error_rate is not None and error_rate > ERROR_BAD:
        health, word = "bad", "5xx high"
    elif error_rate is not None and error_rate > ERROR_WARN:
        health, word = "warn", "5xx up"
    elif any(getattr(r, "oom_kills", None) for r in serving):
        health, word = "bad", "OOM kills"
    elif any((getattr(r, "cold_start_share", None) or 0) > cold_start_warning for r in serving):
        health, word = "warn", "cold starts"
    elif phase == "rolled_back":
        health, word = "warn", "rolled back"
    elif not rates:
        health, word = "unknown", "no data"
    return ServiceSummary(
        request_rate=sum(rates) if rates else None,
        error_rate=error_rate,
        p95_ms=max(p95s) if p95s else None,
        cost_per_hour=sum(costs) if costs else None,
        split=split,
        health=health,
        health_word=word,
    )
