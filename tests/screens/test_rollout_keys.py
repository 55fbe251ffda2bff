"""The operator's keys during this console's own automatic rollout (`a`): `r` rolls back, `p`
promotes, `space` pauses for real (PAUSED, the bake clock stopped), `q` asks how to leave it.
The emulator reconciles each traffic change after its delay, as Cloud Run does."""

from __future__ import annotations

from screens.modals import ChooseRevision, ConfirmTraffic, QuitDuringRollout
from tests.screens.conftest import SIZE, wait_for
from tests.screens.test_actions import candidate_of, confirmed, fast_staging_backend, open_service, served
from widgets.verdict import VerdictPanel


async def start_auto(pilot, app, screen) -> str:
    candidate = candidate_of(app.clients)
    await confirmed(pilot, app, "a")
    await wait_for(pilot, lambda: served(app.clients).get(candidate) == 10, timeout=30, what="10 % served")
    await wait_for(pilot, lambda: screen.auto_running, what="the rollout driven here")
    # the screen shows the rollout once its next read sees the annotations the engine wrote
    await wait_for(pilot, lambda: screen.state is not None and screen.state.active, timeout=30, what="the rollout on screen")
    return candidate


async def quit_rolling_back(app, capsys) -> tuple[str, str]:
    """Start the automatic rollout, press q and choose "roll back"; the stable revision and what the
    console printed once it quit."""
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        stable = next(rev for rev, pct in served(app.clients).items() if pct == 100)
        await start_auto(pilot, app, screen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitDuringRollout), what="the question")
        await pilot.press("down", "enter")  # roll back
        await wait_for(pilot, lambda: not app.is_running, timeout=30, what="the console to quit")
    return stable, " ".join(capsys.readouterr().err.split())


async def test_r_during_this_consoles_automatic_rollout_rolls_back(emulator, make_app, repo_config):
    app = fast_staging_backend(emulator, make_app, repo_config, "healthy", scale=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        stable = next(rev for rev, pct in served(app.clients).items() if pct == 100)
        await start_auto(pilot, app, screen)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ChooseRevision), what="the revision choice")
        await pilot.press("enter")  # stable, the default
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: served(app.clients) == {stable: 100}, timeout=30, what="stable at 100 %")
        await wait_for(pilot, lambda: not screen.busy, timeout=30, what="this console's rollout to stop")
        await wait_for(pilot, lambda: (screen.current.rollout or {}).get("phase") == "rolled_back", what="state on screen")
        assert served(app.clients) == {stable: 100}  # the stopped rollout wrote nothing after the rollback


async def test_q_during_an_automatic_rollout_asks_and_cancel_keeps_it_running(emulator, make_app, repo_config):
    app = fast_staging_backend(emulator, make_app, repo_config, "healthy", scale=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        await start_auto(pilot, app, screen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitDuringRollout), what="the question")
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert app.is_running and screen.auto_running and app.screen is screen


async def test_q_then_roll_back_puts_stable_back_and_quits(emulator, make_app, repo_config, capsys):
    app = fast_staging_backend(emulator, make_app, repo_config, "healthy", scale=60)
    stable, said = await quit_rolling_back(app, capsys)
    assert served(app.clients) == {stable: 100}
    assert "staging/vinsight-backend: rolled back" in said and stable in said


async def test_q_then_roll_back_that_fails_says_the_error_and_the_traffic_it_left(emulator, make_app, repo_config, capsys,
                                                                                   monkeypatch):
    """A rollback that raised after it moved traffic (seen under load) must not be reported as a
    rollout "still pausing": the operator is told the error, what the service serves now, and what to run."""
    from console.engine import Engine
    from console.errors import VinconsoleError

    rollback_now = Engine.rollback_now

    def moved_then_failed(engine):
        rollback_now(engine)
        raise VinconsoleError("the audit entry could not be written")

    monkeypatch.setattr(Engine, "rollback_now", moved_then_failed)
    stable, said = await quit_rolling_back(fast_staging_backend(emulator, make_app, repo_config, "healthy", scale=60), capsys)
    assert "the rollback before quitting failed: the audit entry could not be written" in said, said
    assert f"it now serves {stable} 100 %" in said and "vinconsole rollback --env staging --service vinsight-backend" in said
    assert "still pausing" not in said


async def test_space_pauses_for_real_and_resumes_the_same_rollout(emulator, make_app, repo_config):
    app = fast_staging_backend(emulator, make_app, repo_config, "healthy", scale=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        candidate = await start_auto(pilot, app, screen)
        rollout_id = screen.state.id
        await pilot.press("space")
        await wait_for(pilot, lambda: not screen.busy and screen.state is not None and screen.state.phase == "paused",
                       timeout=30, what="the paused state on screen")
        title = lambda: str(screen.query_one("#title").render())  # noqa: E731
        assert "PAUSED" in title()
        held = title()
        await pilot.pause(1.0)  # a minute of the rollout's clock
        screen._draw_title()
        assert title() == held  # the bake clock does not count the pause
        panel = screen.query_one(VerdictPanel)
        assert "PAUSED" in panel.view.headline
        assert served(app.clients).get(candidate) == 10  # traffic held where it was
        assert not any("aborted" in str(n.message) for n in app._notifications)  # paused, not "aborted"
        await pilot.press("space")  # resume: the same rollout, confirmed as usual
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmTraffic), what="the resume confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.auto_running and screen.state is not None and screen.state.phase == "baking",
                       timeout=30, what="baking again")
        assert screen.state.id == rollout_id


async def test_p_during_this_consoles_automatic_rollout_promotes(emulator, make_app, repo_config):
    app = fast_staging_backend(emulator, make_app, repo_config, "healthy", scale=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        candidate = await start_auto(pilot, app, screen)
        await confirmed(pilot, app, "p")
        await wait_for(pilot, lambda: served(app.clients) == {candidate: 100}, timeout=30, what="the candidate at 100 %")
        await wait_for(pilot, lambda: not screen.busy and (screen.current.rollout or {}).get("phase") == "promoted",
                       timeout=30, what="promoted on screen")


async def test_an_audit_entry_that_could_not_be_written_stays_in_the_status_line(emulator, make_app):
    from widgets.status_line import StatusLine

    emu = emulator()
    app = make_app(emu, env="staging", service="vinsight-backend")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_service(pilot, app)
        candidate = candidate_of(app.clients)
        emu.inject_fault("WriteLogEntries", "PERMISSION_DENIED", times=10_000)  # the audit log refuses every write
        await confirmed(pilot, app, "s")
        await wait_for(pilot, lambda: served(app.clients).get(candidate) == 10 and not screen.busy, timeout=30,
                       what="the step done")
        status = screen.query_one(StatusLine)
        await wait_for(pilot, lambda: "audit entries not written" in status.source, what="the status line")
        await pilot.pause(1.0)  # refreshes do not clear it
        assert "vinconsole history` will miss" in status.source
        emu.faults.clear()  # the audit log is back: the next action writes what was missing first
        await confirmed(pilot, app, "s")
        await wait_for(pilot, lambda: served(app.clients).get(candidate) == 50 and not screen.busy, timeout=30,
                       what="the next step done")
        await wait_for(pilot, lambda: "audit" not in status.source, what="the status line cleared")
        assert not screen.audit_backlog.entries
