"""Cloud Run cost arithmetic (pure): what a revision costs per hour and per 1,000 requests."""

from __future__ import annotations

from dataclasses import dataclass

from console.config import Pricing


@dataclass(frozen=True)
class Usage:
    """What a revision used over a window."""

    seconds: float  # length of the window
    billable_instance_seconds: float
    requests: int
    vcpu: float
    memory_gib: float
    billing: str = "request"  # Cloud Run's request-based or instance-based billing


def window_cost(usage: Usage, pricing: Pricing) -> float:
    """USD for the window.

    Request-based: billable instance time × (vCPU × price + GiB × price) + requests × price.
    Instance-based: instance time × (vCPU × price + GiB × price), no per-request fee.
    """
    if usage.billing == "instance":
        per_instance_second = usage.vcpu * pricing.instance_vcpu_second + usage.memory_gib * pricing.instance_gib_second
        return usage.billable_instance_seconds * per_instance_second
    per_instance_second = usage.vcpu * pricing.vcpu_second + usage.memory_gib * pricing.gib_second
    return usage.billable_instance_seconds * per_instance_second + usage.requests * pricing.per_million_requests / 1e6


def cost_per_hour(usage: Usage, pricing: Pricing) -> float | None:
    if usage.seconds <= 0:
        return None
    return window_cost(usage, pricing) * 3600.0 / usage.seconds


def cost_per_thousand_requests(usage: Usage, pricing: Pricing) -> float | None:
    if usage.requests <= 0:
        return None
    return window_cost(usage, pricing) * 1000.0 / usage.requests


def month_forecast(spent_so_far: float, elapsed_fraction: float) -> float | None:
    """Linear forecast of the month's spend from what the month has cost so far."""
    if elapsed_fraction <= 0:
        return None
    return spent_so_far / min(1.0, elapsed_fraction)
