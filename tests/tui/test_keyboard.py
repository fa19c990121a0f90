"""Keyboard conventions, driven by Pilot on a console without a service."""

from __future__ import annotations

import pyarrow as pa
import pytest
from textual.coordinate import Coordinate
from textual.widgets import Button, Footer, Input, Static, TabbedContent, TextArea
from textual.widgets._footer import FooterKey
from textual_fastdatatable import DataTable

from lakeconsole.config import ConsoleSettings, Settings
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.format import parse_time, utc_day
from lakeconsole.tui.screens.help import HelpScreen
from lakeconsole.tui.widgets.flushlog import FlushLog
from lakeconsole.tui.widgets.keybutton import KeyButton
from lakeconsole.tui.widgets.partitions import PartitionTree
from lakeconsole.tui.widgets.query import QueryPanel, ReaderRequest
from tests.tui.helpers import FROZEN_NOW, fill_tree, frozen_model, text_of, until

SIZE = (160, 48)
NS = 1_795_789_865_123_456_789  # 2026-11-27 14:31:05.123456789 UTC
RESULT = pa.table({"ts_event_ns": [NS, NS + 1], "symbol": ["SPY", "QQQ"],
                   "price": [6040.0, 6039.75], "size": [1200, 15]})


def console(**console_settings: object) -> LakeConsoleApp:
    """A console without a service, on frozen data."""
    settings = Settings(console=ConsoleSettings(**console_settings))  # type: ignore[arg-type]
    return LakeConsoleApp(None, settings=settings, model=frozen_model(),
                          clock=lambda: FROZEN_NOW)



async def test_ctrl_c_on_a_result_cell_copies_and_does_not_quit() -> None:
    """ctrl+c on the focused table copies the cell (padding dropped); the console stays."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        panel = app.query_one(QueryPanel)
        await panel.show_result(RESULT, 0.01, False)
        await pilot.press("1", "4")  # 4 focuses the result
        table = app.query_one("#query-table", DataTable)
        await until(pilot, lambda: app.focused is table)
        await pilot.press("right", "right", "ctrl+c")
        assert app.clipboard == "6040.00"
        await pilot.press("left", "left", "ctrl+c")
        assert app.clipboard == "2026-11-27 14:31:05.123456789"
        await pilot.press("shift+right", "shift+down", "ctrl+c")  # a range: rows of cells
        assert app.clipboard == ("2026-11-27 14:31:05.123456789\tSPY\n"
                                 "2026-11-27 14:31:05.123456790\tQQQ")
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None


async def test_ctrl_c_in_the_sql_editor_copies_the_selection() -> None:
    """The editor's copy wins over any quit binding."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        editor = app.query_one("#q-sql", TextArea)
        assert app.focused is editor
        editor.text = "SELECT 42"
        editor.select_all()
        await pilot.press("ctrl+c")
        assert app.clipboard == "SELECT 42" and app.is_running


async def test_ctrl_c_with_nothing_selected_says_how_to_quit() -> None:
    """On the dashboard ctrl+c quits nothing: Textual's reminder names the quit key."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause(0.2)
        assert app.is_running
        assert any("to quit" in str(n.message) for n in app._notifications)


def record_quits(app: LakeConsoleApp) -> list[str]:
    """Replace the app's quit action by a recorder (a real exit mid-press can hang Pilot)."""
    calls: list[str] = []

    async def quit_recorded() -> None:
        calls.append("quit")

    app.action_quit = quit_recorded  # type: ignore[method-assign]
    return calls


async def test_ctrl_q_quits_even_from_a_text_field() -> None:
    """ctrl+q is a priority binding: a focused input does not swallow it."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        quits = record_quits(app)
        date = app.query_one("#compact-date", Input)
        before = date.value
        date.focus()
        await until(pilot, lambda: app.focused is date)
        await pilot.press("ctrl+q")
        assert quits == ["quit"] and date.value == before


async def test_q_still_quits_but_types_in_a_field() -> None:
    """q quits (the flush is Service.stop, tests/tui/test_console.py); in a field it is a q."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        quits = record_quits(app)
        await pilot.press("q")
        assert quits == ["quit"]
        date = app.query_one("#compact-date", Input)
        date.focus()
        await until(pilot, lambda: app.focused is date)
        await pilot.press("q")
        assert quits == ["quit"] and date.value == "q"


async def test_tab_keys_focus_the_main_widget() -> None:
    """2 → tree, 3 → Compact button, 4 → result (none yet: nothing), 1 → log; never a field."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        steps = [("2", lambda: app.query_one(PartitionTree)),
                 ("3", lambda: app.query_one("#compact-run", Button)),
                 ("4", lambda: None),
                 ("1", lambda: app.query_one(FlushLog))]
        for key, expected in steps:
            await pilot.press(key)
            await until(pilot, lambda want=expected: app.focused is want())  # type: ignore[misc]
        await app.query_one(QueryPanel).show_result(RESULT, 0.01, False)
        await pilot.press("4")
        await until(pilot, lambda: app.focused is app.query_one("#query-table", DataTable))
        await pilot.press("down")  # keys reach the tab's widget at once: no Tab press first
        assert app.query_one("#query-table", DataTable).cursor_coordinate.row == 1
        await pilot.press("shift+tab")  # out of the table, back to the form
        assert app.focused is app.query_one("#q-end", Input)


async def test_compact_without_a_date_puts_the_cursor_in_the_date() -> None:
    """The date starts at today (UTC); emptied, k says so and focuses the date field."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await until(pilot, lambda: app.focused is app.query_one("#compact-run", Button))
        date = app.query_one("#compact-date", Input)
        assert date.value == utc_day(FROZEN_NOW)  # the app's clock: today, UTC
        assert app.query_one("#q-date", Input).value == date.value
        date.value = ""
        await pilot.press("k")
        assert app.focused is app.query_one("#compact-date", Input)
        assert "enter a date" in text_of(app.query_one("#compact-status", Static))


async def test_tree_arrows_escape_and_the_selection_notice() -> None:
    """←/→ close/open, escape climbs to the root and only then leaves; enter says what it filled."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        tree = app.query_one(PartitionTree)
        hour = fill_tree(tree)
        await until(pilot, lambda: app.focused is tree)
        await pilot.pause(0.2)  # the tree numbers its lines when it renders
        tree.move_cursor(hour)
        assert tree.cursor_node is hour and hour.data is not None and hour.data.kind == "hour"
        await pilot.press("left")
        assert not hour.is_expanded and tree.cursor_node is hour
        await pilot.press("right")
        assert hour.is_expanded
        await pilot.press("right")
        assert tree.cursor_node is hour.children[0]
        await pilot.press("left")
        assert tree.cursor_node is hour
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert any(str(n.message) == "filled Compact and Query: stocks.trades SPY 2026-01-01"
                   for n in app._notifications)
        await pilot.press("ctrl+c")
        assert app.clipboard == "bronze/stocks/trades/symbol=SPY/date=2026-01-01/hour=00"
        for _ in range(6):  # hour → date → value → dataset → asset → tier → root
            await pilot.press("escape")
            assert app.query_one(TabbedContent).active == "partitions"
        assert tree.cursor_node is tree.root
        await pilot.press("escape")
        assert app.query_one(TabbedContent).active == "dashboard"


async def test_a_remap_that_takes_quit_is_refused_with_a_warning() -> None:
    """console.keys compact = "q" is refused: q still quits; the other remap applies."""
    app = console(keys={"compact": "q", "help": "f2"})
    async with app.run_test(size=SIZE) as pilot:
        assert any("compact" in w and "away from quit" in w for w in app.warnings)
        assert any("away from quit" in str(n.message) for n in app._notifications)
        await pilot.press("f2")
        assert isinstance(app.screen, HelpScreen)
        text = text_of(app.screen.query(Static).first())
        help_line = next(line for line in text.splitlines() if " help " in line)
        assert "f2 *" in help_line
        compact_line = next(line for line in text.splitlines() if " compact " in line)
        assert compact_line.split()[0] == "k"  # the refused remap is not shown
        quits = record_quits(app)
        await pilot.press("escape", "q")
        assert quits == ["quit"]


async def test_footer_keeps_the_tab_keys_at_80_columns() -> None:
    """On 80 columns the Compact and Query keys are in the footer, left of the palette key."""
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        for tab, wanted in (("3", {"Compact", "All schemas", "Cancel"}),
                            ("4", {"Run", "Reader/SQL", "CSV", "Parquet"}),
                            ("2", {"Refresh"})):
            await pilot.press(tab)
            await pilot.pause(0.2)
            if isinstance(app.focused, Input):  # a field takes letters: leave it first
                await pilot.press("escape")
            await pilot.pause(0.3)
            keys = list(app.query_one(Footer).query(FooterKey))
            palette = next(k for k in keys if k.has_class("-command-palette"))
            visible = {k.description for k in keys if k is not palette
                       and k.region.right <= palette.region.x and k.region.width}
            assert wanted <= visible, (tab, visible)


async def test_reader_form_takes_readable_times() -> None:
    """from/to accept 14:30 (on the form's date), a date time with fraction, or ns."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(QueryPanel)
        panel.fill("bronze", "stocks.trades", "SPY", "2026-11-27")
        panel.query_one("#q-start", Input).value = "14:30"
        panel.query_one("#q-end", Input).value = "2026-11-27 14:31:05.123456789"
        request = panel.request()
        assert isinstance(request, ReaderRequest)
        assert request.start_ns == parse_time("2026-11-27 14:30") and request.end_ns == NS
        panel.query_one("#q-end", Input).value = str(NS)
        assert panel.request().end_ns == NS  # type: ignore[union-attr]
        panel.query_one("#q-start", Input).value = "half past two"
        await pilot.press("4", "f5")
        info = text_of(panel.query_one("#query-info", Static))
        assert info.startswith("from: cannot read 'half past two'")


@pytest.mark.usefixtures("utc_plus_3")
async def test_t_toggles_local_time_everywhere() -> None:
    """t: the header, the flush log and the result switch to local time, and back."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(QueryPanel)
        await panel.show_result(RESULT, 0.01, False)
        log = app.query_one(FlushLog)
        await until(pilot, lambda: len(log.lines) > 0)
        first = log.lines[0].text
        assert app.sub_title == "times in UTC" and first.startswith("00:59:51")
        table = panel.query_one(DataTable)
        table.focus()
        await pilot.press("down", "right")
        await pilot.press("t")
        await until(pilot, lambda: str(panel.query_one(DataTable).get_cell_at(
            Coordinate(0, 0))).startswith("2026-11-27 17:31:05"))
        redrawn = panel.query_one(DataTable)
        assert redrawn is not table  # redrawn from the raw result, cursor and focus kept
        assert redrawn.cursor_coordinate == Coordinate(1, 1) and app.focused is redrawn
        assert app.sub_title == "times in local time (XYZ, UTC+03:00)"
        assert log.lines[0].text.startswith("03:59:51")
        assert panel.result is not None  # the raw result, for exports, is unchanged
        assert panel.result.column("ts_event_ns").to_pylist() == [NS, NS + 1]
        await pilot.press("t")
        await until(pilot, lambda: app.sub_title == "times in UTC")


@pytest.mark.usefixtures("utc_plus_3")
async def test_local_time_from_the_config() -> None:
    """console.local_time = true starts in local time; the reader form reads local times."""
    app = console(local_time=True)
    async with app.run_test(size=SIZE):
        assert app.sub_title.startswith("times in local time")
        panel = app.query_one(QueryPanel)
        panel.fill("bronze", "stocks.trades", "SPY", "2026-11-27")
        panel.query_one("#q-start", Input).value = "17:31:05.123456789"
        assert panel.request().start_ns == NS  # type: ignore[union-attr]


async def test_key_button_label_is_literal_and_follows_the_keymap() -> None:
    """`Compact [k]` keeps its brackets (no markup), and shows a remapped key."""
    app = console(keys={"compact": "c"})
    async with app.run_test(size=SIZE) as pilot:
        button = KeyButton("Compact", "compact", id="probe")
        await app.query_one("#compact").mount(button)
        await pilot.pause()
        assert str(button.label) == "Compact [c]"
        assert str(KeyButton("All schemas", "compact_all").label) == "All schemas [a]"


async def test_ctrl_t_puts_the_cursor_in_the_mode_it_shows() -> None:
    """ctrl+t to SQL: typing goes into the editor, not to the global keys (`q` quits)."""
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        quits = record_quits(app)
        await pilot.press("4", "ctrl+t")
        editor = app.query_one(QueryPanel).editor
        await until(pilot, lambda: app.focused is editor)
        await pilot.press(*"seq")
        assert editor.text.startswith("seq") and quits == []  # typed at the cursor
        await pilot.press("ctrl+t")
        await until(pilot, lambda: app.focused is app.query_one("#q-tier", Input))
