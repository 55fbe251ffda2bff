"""SLO burn rates and multi-window, multi-burn-rate alerts, with numbers worked out by hand."""

import pytest

from console.config import parse_config
from console.distribution import Histogram
from console.slo import (
    ALERT_RULES,
    TICKET_RULE,
    Burn,
    SloSample,
    SloTargets,
    alert_for,
    burn_rate,
    burns,
    evaluate,
    rank,
    severity_key,
    slow_count,
)

END = 1_800_000_000.0
T995 = SloTargets(99.5, 1000, 95)  # budgets: 0.5 % 5xx, 5 % slow


def minutes(n: int, requests: int, errors: int, slow: int | None = None, upto: float = END) -> list[SloSample]:
    """n one-minute samples ending at `upto`, each with the same counts."""
    return [SloSample(upto - 60 * (k + 1), upto - 60 * k, requests, errors, slow) for k in range(n)]


def test_targets_and_budgets_from_config():
    config = parse_config(
        '[environments.s]\nproject = "p"\nregion = "r"\n'
        '[services.a]\nenvironments = ["s"]\navailability_target_percent = 99.9\nlatency_target_ms = 800\n'
        'latency_target_percent = 99.0\n'
        '[services.b]\nenvironments = ["s"]\n'
    )
    a = SloTargets.of(config.services["a"])
    assert (a.availability_percent, a.latency_ms, a.latency_percent) == (99.9, 800, 99.0)
    assert a.availability_budget == pytest.approx(0.001) and a.latency_budget == pytest.approx(0.01)
    assert SloTargets.of(config.services["b"]) == SloTargets(99.5, 1000, 95.0)  # the defaults


def test_burn_rate_is_bad_fraction_over_budget():
    assert burn_rate(36, 1000, 0.005) == pytest.approx(7.2)  # 3.6 % against 0.5 %
    assert burn_rate(0, 1000, 0.005) == 0.0
    assert burn_rate(0, 0, 0.005) is None  # no requests: no data, never 0


def test_burns_over_each_window():
    # the last 5 minutes: 1000 req/min at 8 % 5xx (80 per minute) and 10 % slow (100);
    # the 355 minutes before: 1000 req/min at 0.2 % 5xx (2 per minute) and 1 % slow (10)
    samples = minutes(5, 1000, 80, 100) + minutes(355, 1000, 2, 10, upto=END - 300)
    b = burns(samples, END, T995)
    # 5 min: 400 / 5000 = 8 % → 16×; slow 500 / 5000 = 10 % → 2×
    assert b["5m"].availability == pytest.approx(16.0) and b["5m"].latency == pytest.approx(2.0)
    # 30 min: (5×80 + 25×2) / 30000 = 450 / 30000 = 1.5 % → 3×
    assert b["30m"].availability == pytest.approx(3.0)
    assert b["30m"].errors == 450 and b["30m"].requests == 30_000
    # 1 h: (400 + 55×2) / 60000 = 510 / 60000 = 0.85 % → 1.7×
    assert b["1h"].availability == pytest.approx(1.7)
    # 6 h: (400 + 355×2) / 360000 = 1110 / 360000 → 0.6167×
    assert b["6h"].availability == pytest.approx(1110 / 360_000 / 0.005)
    # slow over 6 h: (500 + 3550) / 360000 = 1.125 % → 0.225×
    assert b["6h"].latency == pytest.approx(4050 / 360_000 / 0.05)


def test_window_without_requests_or_latency_is_none():
    b = burns(minutes(5, 0, 0, None), END, T995)
    assert b["5m"].availability is None and b["5m"].latency is None and b["5m"].error_rate is None


def test_fast_burn_pages_only_when_both_windows_burn():
    # 1 h at 8 % 5xx: 16× over 1 h and over 5 min → page (14.4×)
    status = evaluate(minutes(60, 1000, 80, 0), END, T995)
    assert status.alert.level == "page" and status.alert.slo == "availability"
    assert status.alert.rule == ALERT_RULES[0]
    assert "16.0× over 1 h" in status.alert.reason and "14.4×" in status.alert.reason
    # the same hour, but the last 5 minutes recovered (0 %): the short window vetoes the page
    # (and the 5 quiet hours before keep the 6 h rule below 6×: 4400 / 360000 → 2.44×)
    recovered = minutes(5, 1000, 0, 0) + minutes(55, 1000, 80, 0, upto=END - 300) + minutes(300, 1000, 0, 0, END - 3600)
    b = burns(recovered, END, T995)
    assert b["6h"].availability == pytest.approx(4400 / 360_000 / 0.005)
    assert b["1h"].availability == pytest.approx(55 * 80 / 60_000 / 0.005)  # 14.67× ≥ 14.4
    assert b["5m"].availability == 0.0
    assert alert_for(b).level == "ok"


def test_slow_burn_pages_over_six_hours_and_thirty_minutes():
    # 6 h at 3.5 % 5xx → 7× everywhere: not 14.4× (1 h), but ≥ 6× over 6 h and 30 min
    status = evaluate(minutes(360, 1000, 35, 0), END, T995)
    assert status.alert.level == "page" and status.alert.rule == ALERT_RULES[1]
    assert status.burns["1h"].availability == pytest.approx(7.0)


def test_latency_slo_alerts_too():
    # 20 % slow against a 5 % budget = 4×: nothing. 80 % slow = 16× over 1 h and 5 min → page on latency
    assert evaluate(minutes(60, 1000, 0, 200), END, T995).alert.level == "ok"
    status = evaluate(minutes(60, 1000, 0, 800), END, T995)
    assert status.alert.level == "page" and status.alert.slo == "latency"
    assert "slow requests" in status.alert.reason


def test_ticket_rule_needs_three_days_of_data():
    b = burns(minutes(360, 1000, 6, 0), END, T995)  # 1.2× everywhere
    assert alert_for(b, ALERT_RULES + (TICKET_RULE,)).level == "ok"  # no 3 d window computed: rule skipped
    three_days = dict(b, **{"3d": Burn("3d", 3 * 86400, 10**6, 6000, None, 1.2, None)})
    assert alert_for(three_days, ALERT_RULES + (TICKET_RULE,)).level == "ticket"


def test_slow_count_uses_the_snapped_bucket_edge():
    h = Histogram((100.0, 500.0, 900.0, 1200.0), (10, 50, 20, 5, 3))  # (-,100) [100,500) [500,900) [900,1200) [1200,+)
    # 1000 ms snaps to the nearest edge, 900: slow = the buckets from 900 up = 5 + 3
    assert slow_count(h, 1000) == (8, 900.0)
    assert slow_count(h, 1100) == (3, 1200.0)
    assert slow_count(None, 1000) == (None, None)


def test_severity_ranking():
    rows = [
        ("staging/a", severity_key("ok", 0.8, False, 0.004)),
        ("production/b", severity_key("page", 12.0, True, 0.06)),
        ("production/c", severity_key("ok", 0.8, True, 0.004)),
        ("staging/d", severity_key("page", 30.0, False, 0.15)),
        ("staging/e", severity_key("ok", 3.0, False, 0.015)),
    ]
    ordered = [name for name, _ in rank(rows, key=lambda r: r[1])]
    # pages first (hotter burn first), then by burn, then production before staging at equal burn
    assert ordered == ["staging/d", "production/b", "staging/e", "production/c", "staging/a"]
