"""Pure drawing helpers: numbers, trends, states (symbol + word, never colour alone), budget bar."""

from types import SimpleNamespace

from widgets.cost import budget_bar
from widgets.format import age, ms, pct, rollout_text, split_text, trend, usd
from widgets.summary import summarize
from widgets.verdict import evidence_bar


def test_numbers_say_no_data_as_a_dash():
    assert pct(None) == ms(None) == usd(None) == age(None) == "—"
    assert pct(0.0412) == "4.12 %"
    assert ms(812.4) == "812 ms" and ms(12_500) == "12.5 s"
    assert usd(0.0979) == "$0.0979" and usd(12.5) == "$12.50"


def test_trend_marks_only_real_moves():
    assert trend(110, 100) == ""  # within 10 %
    assert trend(120, 100) == "↑" and trend(80, 100) == "↓"
    assert trend(None, 100) == trend(100, None) == ""
    assert trend(0.004, 0.003, relative=0.25, absolute=0.002) == ""  # below the absolute floor


def test_rollout_state_reads_without_colour():
    now = 1_000.0
    baking = {"phase": "baking", "percent": 10, "step_started": now - 100}
    assert rollout_text(baking, now, 300, 900).plain == "◆ at 10 % baking 1:40 of 5:00"
    assert rollout_text({"phase": "rolled_back"}, now, 300, 900).plain == "↺ rolled back"
    assert rollout_text(None, now, 300, 900).plain == "idle"


def test_split_text_orders_by_percent():
    assert split_text({"svc-00001-a": 10, "svc-00002-b": 90}, "svc") == "00002-b 90 % · 00001-a 10 %"


def _rev(name, pct_, rate, requests, errors, ready=True):
    return SimpleNamespace(name=name, traffic_percent=pct_, request_rate=rate, requests=requests, errors=errors,
                           p95_ms=100.0, cost_per_hour=0.1, ready=ready)


def test_health_of_a_service():
    ok = SimpleNamespace(error=None, rollout=None, revisions=[_rev("a", 100, 10, 1000, 3)])
    assert summarize(ok).health == "ok"
    bad = SimpleNamespace(error=None, rollout=None, revisions=[_rev("a", 90, 9, 900, 3), _rev("b", 10, 1, 100, 90)])
    assert summarize(bad).health == "bad" and summarize(bad).health_word == "5xx high"
    unreadable = SimpleNamespace(error="UNAVAILABLE", rollout=None, revisions=[])
    assert summarize(unreadable).health == "bad"


def test_budget_bar_marks_alert_percents():
    bar = budget_bar(30, 60, 100, (50, 75, 90), width=20).plain
    assert bar.count("│") == 3 and bar.startswith("██████")
    assert "▒" in bar


def test_evidence_bar_reaches_the_boundary():
    assert evidence_bar(40, 40, width=10).plain == "█" * 10 + "│"
    assert evidence_bar(1, 40, width=10).plain == "░" * 10 + "│"


def test_error_brief_names_the_call_and_the_code_of_an_api_error():
    from widgets.format import error_brief

    text = ("ListServices(vinsight-staging/us-central1) failed: PERMISSION_DENIED: The caller does not have "
            "permission. — check that the credentials have the roles README.md lists")
    assert error_brief(text, 60) == "ListServices: PERMISSION_DENIED"
    assert error_brief("unreadable rollout annotation", 12) == "unreadable …"
    assert error_brief("short", 12) == "short"


def test_ended_shows_the_date_only_when_the_rollout_crossed_midnight():
    from widgets.history_table import ended_text

    start = 1_800_000_000.0  # 2027-01-15 08:00 UTC
    assert ended_text(start, start + 900) == "08:15"
    assert ended_text(start, start + 86_400) == "01-16 08:00"
    assert ended_text(start, None) == "—"
