"""The footer keeps the most important keys when it cannot show them all."""

from widgets.dora import lead_time_note
from widgets.key_hints import choose_hints
from widgets.verdict import evidence_words

HINTS = [("step", "s", "step"), ("auto", "a", "auto"), ("promote", "p", "promote"), ("rollback", "r", "roll back"),
         ("back", "esc", "back"), ("quit", "q", "quit"), ("help", "?", "help")]
PRIORITY = ("rollback", "help", "back", "quit", "step", "promote", "auto")


def test_everything_fits_on_a_wide_terminal_in_its_own_order():
    assert choose_hints(HINTS, PRIORITY, 200) == [action for action, _, _ in HINTS]


def test_a_narrow_terminal_keeps_the_important_keys_in_their_own_order():
    # r roll back (13) + ? help (8) + esc back (10) + q quit (8) = 39 cells
    assert choose_hints(HINTS, PRIORITY, 40) == ["rollback", "back", "quit", "help"]
    assert choose_hints(HINTS, PRIORITY, 12) == ["help"]  # roll back needs 13; help still fits


def test_unlisted_actions_come_after_the_listed_ones():
    assert choose_hints([("other", "x", "other"), ("quit", "q", "quit")], ("quit",), 10) == ["quit"]


def test_evidence_reads_in_words_first():
    assert evidence_words(0.03, 20.0) == "no regression so far: evidence LR 0.03 of the 20.00 needed to roll back"
    assert evidence_words(25.0, 20.0).startswith("regression: evidence LR 25.00")
    assert evidence_words(6.0, 20.0).startswith("leaning towards a regression")
    assert evidence_words(None, 20.0).startswith("no evidence yet")


def test_the_lead_time_note_names_the_pace_that_bounds_it():
    note = lead_time_note({"staging": (3, 300.0)}, 10)
    assert "staging ≥ 10 min (2 × 5 min bakes)" in note and "needs fewer steps or shorter bakes" in note
    assert "needs" not in lead_time_note({"staging": (2, 120.0)}, 10)
