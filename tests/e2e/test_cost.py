"""End to end: `vinconsole cost` against `vinconsole emulator` in another process — the month so far per
service, the fleet against its budget, and the one-line summary posted to the webhook for a cron job."""

from __future__ import annotations

import json
import re

from console.cost import budget_status
from tests.e2e.test_cli import emulator_process  # noqa: F401 - the fixture
from tests.webhook import webhook

KEYS = {f"{env}/{svc}" for env in ("staging", "production") for svc in ("vinsight-backend", "vinsight-frontend")}


def test_cost_json_has_every_service_and_the_budget(emulator_process):  # noqa: F811
    emu = emulator_process()
    result = emu.vinconsole("cost", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data["services"]) == KEYS and all(usd > 0 for usd in data["services"].values())
    assert abs(sum(data["services"].values()) - data["total"]) < 0.001
    assert data["budget"] == 150.0 and data["alert_percents"] == [50, 75, 90]
    assert data["forecast"] >= data["total"] and data["forecast_basis"] in ("the last 24 h's rate", "the month so far")
    assert data["level"] == budget_status(data["total"], data["forecast"], 150.0, [50, 75, 90]).level
    assert f"${data['total']:,.2f}" in data["summary"] and "$150.00 budget" in data["summary"]

    only = json.loads(emu.vinconsole("cost", "--json", "--env", "production").stdout)
    assert set(only["services"]) == {k for k in KEYS if k.startswith("production/")}
    assert only["total"] > sum(only["services"].values())  # the budget is the fleet's: staging stays in its total

    table = emu.vinconsole("cost")
    assert table.returncode == 0 and "production/vinsight-frontend" in table.stdout and "$150.00 budget" in table.stdout


def test_cost_notify_posts_the_summary_and_needs_a_webhook(emulator_process):  # noqa: F811
    emu = emulator_process()
    emu.env.pop("VINCONSOLE_WEBHOOK_URL", None)
    refused = emu.vinconsole("cost", "--notify")
    assert refused.returncode == 2 and "webhook_url_env" in refused.stderr and "VINCONSOLE_WEBHOOK_URL" in refused.stderr

    with webhook(statuses=(200, 503)) as (url, received):  # the second post fails
        emu.env["VINCONSOLE_WEBHOOK_URL"] = url
        sent = emu.vinconsole("cost", "--notify")
        failed = emu.vinconsole("cost", "--notify")
    assert sent.returncode == 0, sent.stderr
    assert re.match(r"vinconsole cost: [●▲✖] month to date \$[\d,.]+ \(\d+% of the \$150\.00 budget\)", received[0]["text"])
    assert failed.returncode == 3 and "not delivered" in failed.stderr  # a cron job sees it failed
