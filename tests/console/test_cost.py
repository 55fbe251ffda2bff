import pytest

from console.config import Pricing
from console.cost import Forecast, Usage, cost_per_hour, cost_per_thousand_requests, month_forecast, window_cost


def test_cost_is_instance_time_times_resources_plus_requests():
    usage = Usage(seconds=3600, billable_instance_seconds=3600, requests=1_000_000, vcpu=1, memory_gib=2)
    # 3600 s × (1 × 0.000024 + 2 × 0.0000025) + 1e6 × 0.40 / 1e6
    assert window_cost(usage, Pricing()) == pytest.approx(3600 * 0.000029 + 0.40)
    assert cost_per_hour(usage, Pricing()) == pytest.approx(3600 * 0.000029 + 0.40)
    assert cost_per_thousand_requests(usage, Pricing()) == pytest.approx((3600 * 0.000029 + 0.40) / 1000)


def test_no_requests_means_no_per_request_cost():
    usage = Usage(seconds=60, billable_instance_seconds=60, requests=0, vcpu=1, memory_gib=1)
    assert cost_per_thousand_requests(usage, Pricing()) is None
    assert cost_per_hour(usage, Pricing()) > 0


def test_month_forecast_uses_the_last_day_early_in_the_month_and_the_month_after():
    day = 86400.0
    month = 30 * day
    early = month_forecast(0.8, 2 * 3600, month, trailing_day_usd=9.6)  # $0.40/h; two hours in
    assert early.basis == "the last 24 h's rate"
    assert early.usd == pytest.approx(0.8 + 0.4 * (720 - 2))
    assert month_forecast(0.8, 2 * 3600, month, trailing_day_usd=None) == Forecast(None, "not enough history yet")
    later = month_forecast(30.0, 7.5 * day, month, trailing_day_usd=1000.0)  # the last day is ignored
    assert later.basis == "the month so far" and later.usd == pytest.approx(120.0)


def test_instance_based_billing_has_no_request_fee_and_its_own_prices():
    usage = Usage(seconds=3600, billable_instance_seconds=3600, requests=1_000_000, vcpu=1, memory_gib=2, billing="instance")
    assert window_cost(usage, Pricing()) == pytest.approx(3600 * (0.000018 + 2 * 0.000002))


def test_budget_status_names_the_alert_threshold_and_the_overrun():
    from console.cost import budget_status

    quiet = budget_status(11.34, 24.48, 150.0, [50, 75, 90])
    assert quiet.level == "ok" and quiet.spent_crossed is None and quiet.forecast_crossed is None
    assert quiet.summary() == ("● month to date $11.34 (8% of the $150.00 budget), forecast $24.48 (16%)"
                               " — under every alert threshold")
    heading = budget_status(60.0, 120.0, 150.0, [50, 75, 90])
    assert (heading.spent_crossed, heading.forecast_crossed, heading.level) == (None, 75, "alert")
    assert heading.summary().endswith("forecast passes the 75 % alert")
    spent = budget_status(80.0, 140.0, 150.0, [50, 75, 90])
    assert spent.summary().startswith("▲") and spent.summary().endswith("spend passed the 50 % alert")
    over = budget_status(100.0, 170.0, 150.0, [50, 75, 90])
    assert over.level == "over" and over.summary().endswith("on course to overrun the budget by $20.00")
    assert budget_status(151.0, 160.0, 150.0, [50]).summary().endswith("the budget is spent")
    assert budget_status(10.0, None, 150.0, [50]).level == "ok"  # the month's first minutes: no forecast yet
    assert [b.badge() for b in (quiet, heading, spent, over)] == [
        "● under every alert", "▲ forecast past 75 %", "▲ spend past 50 %", "✖ forecast over budget"]
