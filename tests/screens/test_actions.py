"""Pilot tests: keys → confirmations → the engine → the service's traffic as Cloud Run reports it."""

from __future__ import annotations

import threading

from console.clock import Clock
from console.engine import Engine
from console.gcp.run import CloudRun
from console.model import LEASE_ANNOTATION
from console.state import Lease
from screens.modals import ChooseRevision, ConfirmTraffic
from screens.service import ServiceScreen
from tests.screens.conftest import SIZE, fast_config, wait_for
from widgets.smoke import SmokeResults
from widgets.traffic_bar import TrafficBar
from widgets.verdict import VerdictPanel

STAGING = ("vinsight-staging", "us-central1", "vinsight-backend")
PRODUCTION = ("vinsight-prod", "us-central1", "vinsight-backend")


def served(clients, where=STAGING) -> dict[str, int]:
    return CloudRun(clients).get_service(*where).served_split()


def candidate_of(clients, where=STAGING) -> str:
    return CloudRun(clients).get_service(*where).tags()["candidate"]


async def confirmed(pilot, app, key: str) -> None:
    """Press `key`, wait for its traffic confirmation and confirm it with y."""
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what=f"the confirmation of {key}")
    await pilot.press("y")


async def open_service(pilot, app) -> ServiceScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, ServiceScreen) and app.screen.current is not None, what="service screen")
    return app.screen


async def test_step_confirmed_with_y_moves_candidate_to_10_percent(emulator, make_app):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        clients = app.clients
        candidate = candidate_of(clients)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        assert served(clients).get(candidate, 0) == 0  # nothing before the confirmation
        await pilot.press("y")
        await wait_for(pilot, lambda: served(clients).get(candidate) == 10, what="10 % served")
        await wait_for(pilot, lambda: screen.query_one(TrafficBar).split.get(candidate) == 10, what="traffic bar")
        await wait_for(pilot, lambda: not screen.busy, what="the action to finish")
        assert screen.query_one("#revisions").get_row(candidate)[4].plain.startswith("10 %")


async def test_cancelled_confirmation_changes_nothing_and_rollback_restores_stable(emulator, make_app):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        clients = app.clients
        before = served(clients)
        candidate = candidate_of(clients)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press("n")
        await pilot.pause(0.3)
        assert served(clients) == before
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: served(clients).get(candidate) == 10 and not screen.busy, what="10 %")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ChooseRevision), what="revision picker")
        await pilot.press("enter")  # the stable revision is first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: served(clients) == before, what="stable back at 100 %")
        await wait_for(pilot, lambda: (screen.current.rollout or {}).get("phase") == "rolled_back", what="rolled back state")


async def test_smoke_checks_are_shown_per_check(emulator, make_app):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        before = served(app.clients)
        await pilot.press("t")
        panel = screen.query_one(SmokeResults)
        await wait_for(pilot, lambda: len(panel.results) == 2 and not screen.busy, what="smoke results")
        assert [r["name"] for r in panel.results] == ["health", "quote"]
        assert all(r["ok"] and r["status"] == 200 and r["latency_ms"] > 0 for r in panel.results)
        assert served(app.clients) == before  # smoke checks do not touch traffic


async def test_production_needs_the_typed_service_name(emulator, make_app):
    emu = emulator()
    app = make_app(emu, env="production", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        clients = app.clients
        before = served(clients, PRODUCTION)
        candidate = candidate_of(clients, PRODUCTION)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press("y")  # not enough in production: y is just a letter
        await pilot.press(*"vinsight-frontend", "enter")  # the wrong name
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmTraffic), what="modal closed")
        await pilot.pause(0.5)
        assert served(clients, PRODUCTION) == before
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press(*"vinsight-backend", "enter")
        await wait_for(pilot, lambda: served(clients, PRODUCTION).get(candidate) == 10, what="10 % in production")
        await wait_for(pilot, lambda: not screen.busy, what="the action to finish")


async def test_read_only_offers_no_traffic_key_and_refuses_palette_actions(emulator, make_app):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend", read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        before = served(app.clients)
        shown = {binding.action for _, binding, enabled, _ in app.active_bindings.values() if binding.show}
        assert not shown & {"step", "split", "auto", "pause", "promote", "rollback"}
        assert "smoke" in shown
        for key in "scapr":
            await pilot.press(key)
        await pilot.press("space")
        await pilot.pause(0.3)
        assert not any(isinstance(s, ConfirmTraffic) for s in app.screen_stack)
        # the palette offers no traffic action …
        from screens.commands import ActionCommands

        provider = ActionCommands(screen)
        labels = [label for label, _, _ in provider._commands()]
        assert "service: smoke" in labels and not any(label.endswith(("step", "promote", "rollback", "auto", "split")) for label in labels)
        # … and the actions refuse even when called directly
        await screen.run_action("step")
        await screen.run_action("rollback")
        await pilot.pause(0.3)
        assert not any(isinstance(s, (ConfirmTraffic, ChooseRevision)) for s in app.screen_stack)
        assert served(app.clients) == before


async def test_palette_runs_a_step_with_confirmation(emulator, make_app):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        candidate = candidate_of(app.clients)
        await pilot.press("ctrl+p")
        await pilot.press(*"service: step")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation from the palette")
        await pilot.press("y")
        await wait_for(pilot, lambda: served(app.clients).get(candidate) == 10 and not screen.busy, what="10 %")


async def test_lease_held_elsewhere_is_named_and_nothing_changes(emulator, make_app, manual_clock):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    run = CloudRun(app.clients, manual_clock)
    state = run.get_service(*STAGING)
    lease = Lease("ci:github/42@runner-7 pid 4242", "runner-7", 4242, manual_clock.now() + 600)
    run.write_traffic(state, list(state.traffic), {LEASE_ANNOTATION: lease.to_annotation()})
    before = served(app.clients)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.busy and any("ci:github/42@runner-7" in n.message for n in app._notifications), what="lease message")
        assert served(app.clients) == before


async def test_ci_driven_rollout_is_shown_live(emulator, make_app, repo_config, clients_for, manual_clock):
    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    target = repo_config.targets("staging", "vinsight-backend")[0]
    ci = Engine(repo_config, target, clients_for(emu), manual_clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        thread = threading.Thread(target=ci.step)  # "CI" steps the service from outside this console
        thread.start()
        # the rollout state says 10 % when written; the bar shows what Cloud Run serves, seconds later
        await wait_for(pilot, lambda: (screen.current.rollout or {}).get("percent") == 10
                       and screen.query_one(TrafficBar).split.get(ci.state.candidate) == 10, what="the CI step on screen")
        thread.join()
        title = str(screen.query_one("#title").render())
        assert "at 10 % baking" in title
        assert screen.query_one(TrafficBar).split.get(ci.state.candidate) == 10


def fast_staging_backend(emulator, make_app, repo_config, scenario: str, scale: float):
    """The app on staging/vinsight-backend, short bakes, on a clock `scale` × real time."""
    clock = Clock(scale)
    config = fast_config(repo_config)
    emu = emulator(scenario=scenario, clock=clock, config=config)
    return make_app(emu, clock=clock, config=config, env="staging", service="vinsight-backend")


async def test_automatic_rollout_of_a_regression_rolls_back_and_says_why(emulator, make_app, repo_config):
    app = fast_staging_backend(emulator, make_app, repo_config, "regression", scale=600)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        stable = next(rev for rev, pct in served(app.clients).items() if pct == 100)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press("y")
        panel = screen.query_one(VerdictPanel)
        await wait_for(pilot, lambda: panel.view.decision == "fail", timeout=40, what="a failing verdict")
        await wait_for(pilot, lambda: served(app.clients) == {stable: 100} and not screen.busy, timeout=20, what="rolled back")
        reasons = " ".join(panel.view.reasons)
        assert "5xx" in reasons and "%" in reasons and "stable" in reasons, panel.view
        assert any(e.label == "5xx" and e.likelihood_ratio >= e.boundary for e in panel.view.evidence)
        await wait_for(pilot, lambda: (screen.current.rollout or {}).get("phase") == "rolled_back", what="state on screen")


async def test_a_remapped_key_drives_the_action_and_help_lists_binding_ids(emulator, make_app, repo_config):
    """config.toml's [keys] remaps by binding id; `?` shows the keys as bound now, with their ids."""
    from screens.bindings import DESCRIPTIONS
    from screens.modals import HelpScreen

    emu = emulator()
    config = repo_config.model_copy(update={"keys": {"step": "x"}})
    app = make_app(emu, config=config, env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        clients = app.clients
        candidate = candidate_of(clients)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: served(clients).get(candidate) == 10, what="10 % served")
        await wait_for(pilot, lambda: not screen.busy, what="the action to finish")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        rows = {key: (str(text), binding_id) for key, text, binding_id in app.screen.rows}
        assert rows["x"] == (DESCRIPTIONS["step"], "step")  # what it does, then the id to remap it by


async def test_quitting_during_an_automatic_rollout_holds_traffic_and_says_where(emulator, make_app, repo_config, capsys):
    app = fast_staging_backend(emulator, make_app, repo_config, "healthy", scale=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        candidate = candidate_of(app.clients)
        await confirmed(pilot, app, "a")
        await wait_for(pilot, lambda: served(app.clients).get(candidate) == 10, timeout=30, what="10 % served")
        await pilot.press("q")  # it asks: hold (the first choice), roll back, or cancel
        from screens.modals import QuitDuringRollout

        await wait_for(pilot, lambda: isinstance(app.screen, QuitDuringRollout), what="the question")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy, timeout=15, what="the rollout to pause")
        await pilot.pause(0.2)
    assert served(app.clients).get(candidate) == 10  # held, not rolled back or abandoned half-written
    said = " ".join(capsys.readouterr().err.split())  # printed once the screen is gone
    assert "staging/vinsight-backend: interrupted; traffic held at" in said and f"{candidate} 10 %" in said
    assert "vinconsole --auto-promote" in said  # and how to resume it


async def test_promoting_before_the_judge_passed_says_so_in_the_confirmation(emulator, make_app):
    app = make_app(emulator(), env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        candidate = candidate_of(app.clients)
        await confirmed(pilot, app, "s")
        await wait_for(pilot, lambda: served(app.clients).get(candidate) == 10 and not screen.busy, what="10 %")
        await wait_for(pilot, lambda: (screen.current.rollout or {}).get("percent") == 10, what="the step on screen")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="confirmation")
        assert "The judge has not passed step 1 at 10 %" in app.screen.plan
        await pilot.press("y")
        await wait_for(pilot, lambda: served(app.clients) == {candidate: 100}, what="promoted")
