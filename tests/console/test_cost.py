import pytest

from console.config import Pricing
from console.cost import Usage, cost_per_hour, cost_per_thousand_requests, month_forecast, window_cost


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


def test_month_forecast_is_linear():
    assert month_forecast(30.0, 0.25) == pytest.approx(120.0)
    assert month_forecast(30.0, 0) is None


def test_instance_based_billing_has_no_request_fee_and_its_own_prices():
    usage = Usage(seconds=3600, billable_instance_seconds=3600, requests=1_000_000, vcpu=1, memory_gib=2, billing="instance")
    assert window_cost(usage, Pricing()) == pytest.approx(3600 * (0.000018 + 2 * 0.000002))
