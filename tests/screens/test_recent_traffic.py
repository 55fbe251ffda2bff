"""During a rollout the service screen's stable and candidate panels follow Cloud Run's request log:
lines per 10 s bucket that move every bucket, figures and their age seconds behind, not Monitoring's
minutes (issue 13); outside a rollout they stay on Monitoring and no log is read."""

from __future__ import annotations

import threading

from console.engine import Engine
from tests.screens.conftest import SIZE, wait_for
from tests.screens.test_actions import open_service
from widgets.sparks import RevisionSparks


def labels(panel: RevisionSparks) -> str:
    return " | ".join(str(label.render()) for label in panel.query(".label"))


async def test_during_a_rollout_the_panels_follow_the_request_log_seconds_behind(
        emulator, make_app, repo_config, clients_for, manual_clock):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    target = repo_config.targets("staging", "vinsight-backend")[0]
    ci = Engine(repo_config, target, clients_for(emu), manual_clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        stable_panel = screen.query_one("#spark-stable", RevisionSparks)
        candidate_panel = screen.query_one("#spark-candidate", RevisionSparks)
        await wait_for(pilot, lambda: screen.series is not None, what="the first series")
        assert screen.recent is None and "per minute" in labels(stable_panel)  # no rollout: Monitoring's minutes
        assert str(stable_panel.border_subtitle).startswith("figures to ")

        thread = threading.Thread(target=ci.step)  # "CI" steps the service to 10 % from outside
        thread.start()
        await wait_for(pilot, lambda: screen.state is not None and screen.state.active, what="the rollout on screen")
        thread.join()
        candidate = ci.state.candidate
        manual_clock.advance(60)
        await wait_for(pilot, lambda: screen.recent is not None and candidate in screen.recent.errors,
                       what="the candidate's request log on screen")
        until = screen.recent.until
        assert manual_clock.now() - until <= 20  # seconds behind (Monitoring: minutes)
        await wait_for(pilot, lambda: "per 10 s" in labels(candidate_panel), what="the 10 s lines drawn")
        for panel in (stable_panel, candidate_panel):
            assert "5xx % per 10 s" in labels(panel) and "p95 per 10 s" in labels(panel)
            assert str(panel.border_subtitle).startswith("request log to "), panel.border_subtitle
        # the revisions table above stays Cloud Monitoring's, and says so with its own age
        assert str(screen.query_one("#revisions-age").render()).startswith("revisions: Cloud Monitoring, figures to ")
        rate, _, _ = screen.recent.last_minute[candidate]
        assert rate > 0 and f"{rate:.1f}" in str(candidate_panel.query_one(".figures").render())

        points = len(screen.recent.errors[candidate])
        manual_clock.advance(30)  # three more buckets; the last one waits for its late entries
        await wait_for(pilot, lambda: screen.recent.until >= until + 20
                       and len(screen.recent.errors[candidate]) > points, what="the lines to move with the log")
