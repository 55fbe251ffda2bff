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


TRAILING_FORECAST_SECONDS = 3 * 86400  # before this much of the month has passed, forecast from the last day


@dataclass(frozen=True)
class Forecast:
    """Where the month's spend is heading, and what that was worked out from (said on screen)."""

    usd: float | None
    basis: str  # "the last 24 h's rate", "the month so far" or "not enough history yet"


def month_forecast(
    spent_so_far: float, elapsed_seconds: float, month_seconds: float, trailing_day_usd: float | None
) -> Forecast:
    """The month's spend: what is spent plus the rest of the month at a rate.

    A few hours into a month the month so far is too little to extrapolate (two hours of a quiet
    night times 360 is no forecast), so for the first three days the rate is the last 24 hours',
    which reach into the previous month; after that, the month so far's own average rate.
    """
    remaining = max(0.0, month_seconds - elapsed_seconds)
    if elapsed_seconds < TRAILING_FORECAST_SECONDS:
        if trailing_day_usd is None:
            return Forecast(None, "not enough history yet")
        return Forecast(spent_so_far + trailing_day_usd / 86400 * remaining, "the last 24 h's rate")
    return Forecast(spent_so_far + spent_so_far / elapsed_seconds * remaining, "the month so far")


@dataclass(frozen=True)
class BudgetStatus:
    """The month's spend against the budget and its alert thresholds (the plan's 50/75/90 %)."""

    spent: float
    forecast: float | None
    budget: float
    spent_crossed: int | None  # the highest alert percent the spend so far has passed
    forecast_crossed: int | None  # the highest alert percent the forecast passes
    forecast_basis: str = ""  # what the forecast was worked out from (console.cost.Forecast.basis)

    @property
    def level(self) -> str:
        """'over' (forecast or spend past the budget), 'alert' (a threshold passed), or 'ok'."""
        if max(self.spent, self.forecast or 0.0) >= self.budget:
            return "over"
        return "alert" if self.spent_crossed is not None or self.forecast_crossed is not None else "ok"

    def badge(self) -> str:
        """The short form, beside a budget bar: '● under every alert', '▲ forecast past 75 %', ..."""
        if self.spent >= self.budget:
            return "✖ budget spent"
        if self.forecast is not None and self.forecast >= self.budget:
            return "✖ forecast over budget"
        if self.spent_crossed is not None:
            return f"▲ spend past {self.spent_crossed} %"
        if self.forecast_crossed is not None:
            return f"▲ forecast past {self.forecast_crossed} %"
        return "● under every alert"

    def summary(self) -> str:
        """One line with the numbers: what is spent, where the month is heading, which alert applies."""
        head = f"month to date ${self.spent:,.2f} ({self.spent / self.budget:.0%} of the ${self.budget:,.2f} budget)"
        if self.forecast is not None:
            basis = f", from {self.forecast_basis}" if self.forecast_basis else ""
            head += f", forecast ${self.forecast:,.2f} ({self.forecast / self.budget:.0%}{basis})"
        if self.spent >= self.budget:
            return f"✖ {head} — the budget is spent"
        if self.forecast is not None and self.forecast >= self.budget:
            return f"✖ {head} — on course to overrun the budget by ${self.forecast - self.budget:,.2f}"
        if self.spent_crossed is not None:
            return f"▲ {head} — spend passed the {self.spent_crossed} % alert"
        if self.forecast_crossed is not None:
            return f"▲ {head} — forecast passes the {self.forecast_crossed} % alert"
        return f"● {head} — under every alert threshold"


def budget_status(
    spent: float, forecast: float | None, budget: float, alert_percents: list[int], forecast_basis: str = ""
) -> BudgetStatus:
    def crossed(amount: float | None) -> int | None:
        passed = [p for p in alert_percents if amount is not None and amount >= budget * p / 100]
        return max(passed) if passed else None

    return BudgetStatus(spent, forecast, budget, crossed(spent), crossed(forecast), forecast_basis)
