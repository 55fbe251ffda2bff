"""What a first user meets on the service screen: key hints that fit, vi keys, help in words,
timestamped events, toasts that keep off the rollback chooser, sparklines that need two windows."""

from __future__ import annotations

import re

from textual.containers import Vertical
from textual.widgets import RichLog, Sparkline
from textual.widgets._footer import FooterKey
from textual.widgets._toast import Toast

from screens.bindings import DESCRIPTIONS
from screens.modals import ChooseRevision, HelpScreen
from tests.screens.conftest import wait_for
from tests.screens.test_actions import open_service
from widgets.key_hints import KeyHints
from widgets.revisions_table import RevisionsTable
from widgets.smoke import SmokeResults
from widgets.sparks import RevisionSparks, SeriesView


def hinted(screen) -> list[str]:
    return [key.action for key in screen.query_one(KeyHints).query(FooterKey)]


async def test_at_100_by_30_the_hints_keep_roll_back_help_back_and_quit(emulator, make_app):
    app = make_app(emulator(), env="production", service="vinsight-backend")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_service(pilot, app)
        await wait_for(pilot, lambda: "rollback" in hinted(screen), what="the footer's hints")
        shown = hinted(screen)
        assert {"rollback", "help", "back", "quit", "step", "promote"} <= set(shown)
        assert shown.index("step") < shown.index("rollback")  # drawn in their own order, chosen by priority
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: "auto" not in hinted(screen) or len(hinted(screen)) < len(shown), what="fewer hints")
        assert {"rollback", "help", "back", "quit"} <= set(hinted(screen))


async def test_j_and_k_move_the_cursor(emulator, make_app):
    app = make_app(emulator(), env="staging", service="vinsight-backend")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_service(pilot, app)
        table = screen.query_one(RevisionsTable)
        await wait_for(pilot, lambda: table.row_count >= 2, what="revisions")
        start = table.cursor_row
        await pilot.press("j")
        assert table.cursor_row == start + 1
        await pilot.press("k")
        assert table.cursor_row == start


async def test_help_says_what_each_key_does_and_what_the_flag_means(emulator, make_app):
    app = make_app(emulator(), env="production", service="vinsight-backend")
    async with app.run_test(size=(160, 48)) as pilot:
        await open_service(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        rows = {binding_id: (key, str(text)) for key, text, binding_id in app.screen.rows}
        assert rows["rollback"] == ("r", DESCRIPTIONS["rollback"])
        assert rows["pause"][0] == "space" and "pause" in rows["pause"][1]
        notes = " ".join(str(note) for note in app.screen.notes)
        assert "⚑ PRODUCTION" in notes and "type" in notes and "j / k" in notes


async def test_events_carry_their_time(emulator, make_app):
    app = make_app(emulator(), env="staging", service="vinsight-backend")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_service(pilot, app)
        await pilot.press("t")
        panel = screen.query_one(SmokeResults)
        await wait_for(pilot, lambda: len(panel.results) == 2 and not screen.busy, what="smoke results")
        lines = [strip.text for strip in screen.query_one("#events", RichLog).lines]
        assert lines and all(re.match(r"\d\d:\d\d:\d\d ", line) for line in lines), lines


async def test_toasts_keep_off_the_rollback_chooser(emulator, make_app):
    app = make_app(emulator(), env="staging", service="vinsight-backend")
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await open_service(pilot, app)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ChooseRevision), what="the chooser")
        for n in range(6):  # more toasts than fit beside it: the rack scrolls instead of growing
            app.notify(f"toast {n}: a message long enough to wrap onto a second line of its toast", timeout=30)
        await pilot.pause(0.3)
        chooser = app.screen.query_one(Vertical).region
        toasts = [toast.region for toast in app.screen.query(Toast)]
        assert toasts and not any(chooser.overlaps(region) for region in toasts), (chooser, toasts)


async def test_a_single_first_window_is_a_number_not_a_solid_bar(emulator, make_app):
    app = make_app(emulator(), env="staging", service="vinsight-backend")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_service(pilot, app)
        panel = screen.query_one("#spark-candidate", RevisionSparks)
        panel.show(SeriesView("candidate", "vinsight-backend-00055-evi", errors=[0.0], p95=[210.0],
                              window_end=1_800_000_000, now=1_800_000_150))
        await pilot.pause(0.05)
        assert [panel.query_one(f".{name}", Sparkline).data for name in ("errors", "p95")] == [[], []]
        labels = " ".join(str(label.render()) for label in panel.query(".label"))
        assert "first window 0.00 %" in labels and "first window 210 ms" in labels
        assert panel.border_subtitle == "figures to 08:00 UTC, 2m old"
        panel.show(SeriesView("candidate", "vinsight-backend-00055-evi", errors=[0.0, 1.5], p95=[210.0, 250.0]))
        await pilot.pause(0.05)
        assert [len(panel.query_one(f".{name}", Sparkline).data) for name in ("errors", "p95")] == [2, 2]


async def test_the_panels_draw_cpu_memory_and_cold_starts_per_minute(emulator, make_app):
    """Issue 14: saturation beside RED on the stable/candidate panels, from Monitoring's windows."""
    app = make_app(emulator(), env="staging", service="vinsight-backend")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_service(pilot, app)
        panel = screen.query_one("#spark-stable", RevisionSparks)
        await wait_for(pilot, lambda: len(panel.query_one(".cpu", Sparkline).data) >= 2, what="the cpu sparkline")
        for name in ("cpu", "mem", "cold"):
            data = panel.query_one(f".{name}", Sparkline).data
            assert len(data) >= 2 and all(0 <= v <= 1 for v in data), (name, data)
            assert re.fullmatch(rf"{name} \d+(\.\d)? %", str(panel.query_one(f".{name}-label").render())), name
        panel.show(SeriesView("stable", "vinsight-backend-00054-jif", saturation_missing="quota exceeded"))
        await pilot.pause(0.05)
        assert str(panel.query_one(".cpu-label").render()) == "cpu ?"
        assert "quota exceeded" in str(panel.query_one(".saturation").tooltip)
