"""The pure saturation core: reading Cloud Run's system log lines, the status figures, the guardrails."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from console.distribution import Histogram, linear_bounds
from console.judge import Decision, Evidence, Verdict
from console.saturation import (
    ContainerEventKind,
    Saturation,
    classify,
    cold_start_flag,
    cold_start_report,
    container_events,
    crash_guardrail,
    events_by_revision,
    idle_min_instance_cost_per_hour,
    judge_saturation,
    memory_warning,
    oom_guardrail,
    summarize_saturation,
    with_saturation,
)

OOM_LINE = ("Memory limit of 512 MiB exceeded with 531 MiB used. Consider increasing the memory limit, "
            "see https://cloud.google.com/run/docs/configuring/memory-limits")
UTIL = linear_bounds(100, 0.01, 0.0)
MS = (100.0, 1000.0, 10000.0)


@dataclass
class Line:
    timestamp: float
    text: str
    resource_labels: dict = field(default_factory=dict)


@dataclass
class Window:
    cpu: Histogram | None = None
    memory: Histogram | None = None
    startup: Histogram | None = None
    active_instances: int | None = None
    idle_instances: int | None = None


def util(*values: float) -> Histogram:
    counts = [0] * (len(UTIL) + 1)
    for v in values:
        counts[int(v * 100) + 1] += 1
    return Histogram(UTIL, tuple(counts))


@pytest.mark.parametrize("text, kind", [
    (OOM_LINE, ContainerEventKind.OOM_KILL),
    ("Container terminated on signal 9.", ContainerEventKind.TERMINATED),
    ("Container called exit(1).", ContainerEventKind.CRASH),
    ("Container called exit(0).", None),
    ("Starting new instance. Reason: AUTOSCALING - Instance started due to configured scaling factors", None),
])
def test_system_log_lines_are_classified(text, kind):
    assert classify(text) is kind


def test_events_are_counted_per_revision_with_their_first_line():
    labels = {"service_name": "api", "revision_name": "api-00002-bbb"}
    other = {"service_name": "web", "revision_name": "web-00001-aaa"}
    entries = [Line(20, OOM_LINE.replace("531", "540"), labels), Line(10, OOM_LINE, labels),
               Line(10.1, "Container terminated on signal 9.", labels), Line(30, "Container called exit(1).", other)]
    events = events_by_revision(container_events(entries), "api")
    assert set(events) == {"api-00002-bbb"}
    assert events["api-00002-bbb"].oom_kills == 2 and events["api-00002-bbb"].crashes == 0
    assert events["api-00002-bbb"].oom_line == OOM_LINE  # the oldest
    assert events_by_revision(container_events(entries))["web-00001-aaa"].crashes == 1


def test_figures_are_none_without_data_and_zero_starts_are_a_fact_with_traffic():
    assert summarize_saturation([], 300, None) == Saturation()
    served = summarize_saturation([Window(cpu=util(0.3, 0.4), memory=util(0.5), active_instances=2)], 300, 1000,
                                  oom_kills=0, min_instances=1, max_instances=10)
    assert served.startups == 0 and served.startups_per_minute == 0.0 and served.cold_start_share == 0.0
    assert served.startup_p95_ms is None  # no start, no latency
    assert 0.39 < served.cpu_p95 <= 0.41 and 0.5 <= served.memory_p95 <= 0.51
    assert served.status_fields()["min_instances"] == 1 and served.status_fields()["oom_kills"] == 0


def test_cold_start_share_is_starts_over_requests():
    startup = Histogram(MS, (0, 0, 30, 0))  # 30 starts between 1 and 10 s
    figures = summarize_saturation([Window(startup=startup, active_instances=1)], 600, 200)
    assert figures.startups == 30 and figures.startups_per_minute == 3.0
    assert figures.cold_start_share == pytest.approx(0.15)
    assert 1000 < figures.startup_p95_ms <= 10000
    assert cold_start_flag(figures.cold_start_share) is False and cold_start_flag(0.31) is True
    stable = summarize_saturation([Window(startup=Histogram(MS, (0, 1, 0, 0)), active_instances=3)], 600, 2000)
    line = cold_start_report(figures, stable)
    assert line.startswith("cold starts: 15.0 % of requests (30 starts, p95 ")
    assert "vs stable 0.1 % of requests (1 start," in line and "over the plan's 10 % target" in line
    assert cold_start_report(Saturation(), stable) is None


def test_oom_guardrail_needs_a_kill_of_the_candidate_and_none_of_stable():
    reason = oom_guardrail("api-00002-bbb", 2, 0, OOM_LINE)
    assert "out-of-memory kills" in reason and "killed 2 times" in reason and "stable 0 times" in reason
    assert OOM_LINE in reason
    assert oom_guardrail("api-00002-bbb", 0, 0, None) is None
    assert oom_guardrail("api-00002-bbb", 3, 1, OOM_LINE) is None  # both are killed: not the candidate's doing
    assert "exited once" in crash_guardrail("api-00002-bbb", 1, 0, "Container called exit(1).")
    assert crash_guardrail("api-00002-bbb", 1, 2, None) is None


def test_memory_warning_over_the_configured_share_of_the_limit():
    assert memory_warning(0.85, 0.5, 0.9) is None and memory_warning(None, 0.5, 0.9) is None
    warning = memory_warning(0.96, 0.47, 0.9)
    assert warning.startswith("warning: memory p95 96 % of the container's limit vs stable 47 %")
    assert "90 %" in warning and "analysis.memory_warning_percent" in warning


def verdict(decision: str, *reasons: str) -> Verdict:
    return Verdict(Decision(decision), tuple(reasons), Evidence(), {"candidate": {"requests": 300}})


def test_an_oom_kill_fails_a_baking_step_and_drops_its_waiting_reasons():
    from console.saturation import RevisionEvents

    killed = RevisionEvents(oom_kills=1, oom_line=OOM_LINE)
    judgement = judge_saturation("api-00002-bbb", killed, RevisionEvents(), None, None, 0.9)
    out = with_saturation(verdict("continue", "baked 54 s of the 300 s minimum"), judgement)
    assert out.decision is Decision.FAIL and len(out.reasons) == 1 and OOM_LINE in out.reasons[0]
    assert out.metrics["saturation"]["oom_kills"] == {"candidate": 1, "stable": 0}
    assert out.metrics["candidate"] == {"requests": 300}  # the judge's own metrics kept


def test_a_passing_step_keeps_its_reasons_and_reports_memory_and_cold_starts():
    from console.saturation import RevisionEvents

    candidate = Saturation(memory_p95=0.95, cold_start_share=0.12, startups=40)
    stable = Saturation(memory_p95=0.45, cold_start_share=0.001, startups=2)
    judgement = judge_saturation("api-00002-bbb", RevisionEvents(), RevisionEvents(), candidate, stable, 0.9)
    out = with_saturation(verdict("pass", "5xx fine"), judgement)
    assert out.decision is Decision.PASS
    assert out.reasons[0] == "5xx fine"
    assert out.reasons[1].startswith("warning: memory p95 95 %") and out.reasons[2].startswith("cold starts: 12.0 %")
    assert out.metrics["saturation"]["candidate"]["cold_start_share"] == 0.12


def test_idle_min_instances_cost_under_instance_billing():
    assert idle_min_instance_cost_per_hour(0, 1, 0.5, 0.000018, 0.000002) is None
    assert idle_min_instance_cost_per_hour(1, 1, 0.5, 0.000018, 0.000002) == pytest.approx(3600 * 0.000019)


@pytest.mark.parametrize("key, value", [("memory_warning_percent", 0), ("cold_start_warning_percent", 120)])
def test_saturation_config_keys_are_validated(key, value):
    from pathlib import Path

    from console.config import ConfigError, parse_config

    text = (Path(__file__).parents[2] / "config.toml").read_text()
    assert parse_config(text).analysis.memory_warning_percent == 90
    bad = text.replace("[analysis]\n", f"[analysis]\n{key} = {value}\n", 1)
    bad = "\n".join(line for line in bad.splitlines() if not line.startswith(f"{key} = 90") and
                    not line.startswith(f"{key} = 30"))
    with pytest.raises(ConfigError, match=rf"analysis\.{key} = {value}: "):
        parse_config(bad)
