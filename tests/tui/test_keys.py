"""The key conventions as data: quit can't be remapped away, ctrl+c is copy, footer order."""

from __future__ import annotations

from textual.binding import Binding

from lakeconsole.tui.keys import (
    ACTIONS,
    WIDGET_SCOPES,
    bindings,
    check_keymap,
    quit_keys,
    split_keys,
)
from lakeconsole.tui.screens.help import bindings_table, key_display
from tests.tui.helpers import text_of_renderable


def test_ctrl_q_quits_and_ctrl_c_is_not_a_console_key() -> None:
    """ctrl+q is a priority quit binding; no console action owns ctrl+c (widgets copy)."""
    by_key = {b.key: b for b in bindings() if isinstance(b, Binding)}
    assert by_key["ctrl+q"].action == "quit" and by_key["ctrl+q"].priority
    assert by_key["q"].action == "quit" and not by_key["q"].priority
    assert all("ctrl+c" not in split_keys(a.keys) for a in ACTIONS)


def test_tab_scoped_bindings_come_first_for_the_footer() -> None:
    """The footer cuts at the right edge, so a tab's own keys are listed before global ones."""
    order = [b.id for b in bindings() if isinstance(b, Binding)]
    scoped = [a.id for a in ACTIONS if a.scope not in ("global", *WIDGET_SCOPES)]
    assert order[:len(scoped)] == scoped


def test_split_keys_uses_textual_names() -> None:
    """`?, f1` → question_mark, f1; blanks are dropped."""
    assert split_keys("?, f1") == ["question_mark", "f1"]
    assert split_keys(" , ") == []
    assert key_display("question_mark,f1") == "? / f1"


def test_remaps_that_take_away_quit_are_refused() -> None:
    """Another action on q or ctrl+q, force_quit without ctrl+q, or no key: refused."""
    accepted, warnings = check_keymap({"compact": "q", "help": "ctrl+q", "force_quit": "f10",
                                       "refresh": " ", "run_query": "f9"})
    assert accepted == {"run_query": "f9"}
    assert len(warnings) == 4
    assert any("compact" in w and "take q away from quit" in w for w in warnings)
    assert any("help" in w and "take ctrl+q away from quit" in w for w in warnings)
    assert any("force_quit" in w and "ctrl+q always quits" in w for w in warnings)
    assert any("refresh" in w and "no key" in w for w in warnings)


def test_ctrl_c_is_never_remapped() -> None:
    """ctrl+c stays copy: mapping quit (or anything) to it is refused."""
    accepted, warnings = check_keymap({"quit": "ctrl+c", "export_csv": "ctrl+c,ctrl+e"})
    assert accepted == {}
    assert len(warnings) == 2 and all("ctrl+c copies" in w for w in warnings)


def test_quit_may_move_and_its_new_key_is_protected() -> None:
    """quit = f10 is fine (ctrl+q still quits) and frees q; then f10 is quit's."""
    accepted, warnings = check_keymap({"quit": "f10", "compact": "q", "help": "f10"})
    assert accepted == {"quit": "f10", "compact": "q"}
    assert quit_keys(accepted) == {"f10", "ctrl+q"}
    assert len(warnings) == 1 and "help" in warnings[0] and "f10" in warnings[0]


def test_help_marks_remapped_keys_and_lists_widget_keys() -> None:
    """The help table shows the effective key with a `*`, and the tree / table / copy keys."""
    keymap = {a.id: a.keys for a in ACTIONS} | {"run_query": "f9"}
    text = text_of_renderable(bindings_table(keymap))
    run_line = next(line for line in text.splitlines() if "run_query" in line)
    assert "f9 *" in run_line and "ctrl+enter" not in run_line
    help_line = next(line for line in text.splitlines() if " help " in line)
    assert "*" not in help_line
    assert "Copy the cell" in text and "Collapse / expand" in text and "ctrl+q" in text
