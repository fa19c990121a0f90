"""The results grid and the SQL editor, driven by Pilot: a real Service, real DuckDB over
real Parquet written by tests/factories.py, a real nats-server."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow as pa
from textual.pilot import Pilot
from textual.widgets import Static

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage
from lakeconsole.service import Service
from lakeconsole.tui import history
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.widgets.cell_view import CellScreen
from lakeconsole.tui.widgets.query import QueryPanel
from lakeconsole.tui.widgets.results import FilterInput, ResultTable
from lakeconsole.tui.widgets.sql_editor import CompletionList, SqlTextArea
from tests.factories import BASE_NS, rows, trade_table, write
from tests.tui.helpers import console_settings, text_of, until

SIZE = (160, 48)
REASON = "missing field 'price' in " + "x" * 275  # 300 characters
MBP10 = by_name("futures.mbp10")


def fill_lake(root: Path) -> None:
    """Trades of two symbols, one quarantined message, a few mbp10 rows and greeks."""
    lake = Storage(str(root))
    write(lake, trade_table("SPY", [BASE_NS + i * 1_000 for i in range(6)]))
    write(lake, trade_table("QQQ", [BASE_NS + 500 + i * 1_000 for i in range(4)], seq0=100))
    write_records(lake, [QuarantineRecord(BASE_NS + 7, "market.stocks.trades", 1, REASON,
                                          b'{"symbol": "SPY", "size": 3}')])
    book: dict[str, list[Any]] = {
        f.name: [1.5 if pa.types.is_floating(f.type) else 10] * 3 for f in MBP10.schema
        if pa.types.is_floating(f.type) or pa.types.is_integer(f.type)}
    book |= {"ts_event_ns": [BASE_NS + i for i in range(3)], "source": ["t"] * 3,
             "symbol": ["ESZ6"] * 3, "is_snapshot": [False] * 3, "seq": [1, 2, 3]}
    write(lake, rows(MBP10, book), MBP10)


@contextlib.asynccontextmanager
async def console(tmp_path: Path, nats_url: str
                  ) -> AsyncIterator[tuple[LakeConsoleApp, Pilot[int]]]:
    """A running console on a filled lake; quits at the end."""
    settings = console_settings(tmp_path / "lake", nats_url)
    fill_lake(tmp_path / "lake")
    app = LakeConsoleApp(Service(settings), export_dir=tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.service is not None and app.service._started)
        yield app, pilot
        if not app._stopping:
            app.set_focus(None)
            await pilot.press("q")
            await until(pilot, lambda: app.return_code is not None)


async def run_sql(app: LakeConsoleApp, pilot: Pilot[int], sql: str) -> QueryPanel:
    """Type nothing: set the editor's text, run it, wait for the result or the failure."""
    panel = app.query_one(QueryPanel)
    await pilot.press("slash")
    panel.editor.text = sql
    before = panel.info
    await pilot.press("ctrl+enter")
    await until(pilot, lambda: panel.info != before and not panel.info.startswith("running"))
    await pilot.pause(0.1)
    return panel


async def focus_table(app: LakeConsoleApp, pilot: Pilot[int]) -> ResultTable:
    """The result table, focused (esc leaves the editor, 4 focuses the table)."""
    await pilot.press("escape", "4")
    await until(pilot, lambda: isinstance(app.focused, ResultTable))
    assert isinstance(app.focused, ResultTable)
    return app.focused


def column(table: ResultTable, index: int) -> list[str]:
    """A column as shown, padding dropped."""
    return [str(v).strip() for v in table.get_column_at(index)]


def labels(table: ResultTable) -> list[str]:
    """The header labels."""
    return [str(c.label).strip() for c in table.ordered_columns]


async def test_sort_filter_and_copy(tmp_path: Path, nats_url: str) -> None:
    """s sorts the cursor's column ▲ then ▼ then off; / filters and esc restores; ctrl+c
    copies the cell and y the row as text."""
    async with console(tmp_path, nats_url) as (app, pilot):
        panel = await run_sql(app, pilot, "SELECT symbol, price, size FROM "
                                          "bronze_stocks_trades ORDER BY seq")
        table = await focus_table(app, pilot)
        assert column(table, 0)[0] == "SPY" and table.row_count == 10
        await pilot.press("right", "right", "s")  # size ascending
        await until(pilot, lambda: labels(panel.table)[2] == "size ▲")  # type: ignore[arg-type]
        assert panel.table is not None
        assert column(panel.table, 2)[0] == "1" and "sorted by size ▲" in panel_info(panel)
        await pilot.press("s")
        await until(pilot, lambda: labels(panel.table)[2] == "size ▼")  # type: ignore[arg-type]
        assert column(panel.table, 2)[0] == "104" and column(panel.table, 0)[0] == "QQQ"
        await pilot.press("s")
        await until(pilot, lambda: labels(panel.table)[2] == "size")  # type: ignore[arg-type]
        assert column(panel.table, 0)[0] == "SPY"

        await pilot.press("slash")
        assert isinstance(app.focused, FilterInput)
        await pilot.press(*"qqq")
        await until(pilot, lambda: panel.table is not None and panel.table.row_count == 4)
        assert set(column(panel.table, 0)) == {"QQQ"}
        assert "filter 'qqq': 4 of 10 rows" in panel_info(panel)
        await pilot.press("enter")  # keeps the filter, back to the table
        await until(pilot, lambda: isinstance(app.focused, ResultTable))
        await pilot.press("ctrl+c")
        assert app.clipboard == "101"  # size of the first QQQ row: the cursor kept column 2
        await pilot.press("y")
        assert app.clipboard == "QQQ\t100.00\t101"
        await pilot.press("escape")  # clears the filter
        await until(pilot, lambda: panel.table is not None and panel.table.row_count == 10)
        assert isinstance(app.focused, ResultTable)
        await pilot.press("escape")  # no filter left: back to the dashboard, as before
        await until(pilot, lambda: app.query_one("TabbedContent").active == "dashboard")


def panel_info(panel: QueryPanel) -> str:
    """The info line under the editor."""
    return text_of(panel.query_one("#query-info", Static))


async def test_full_cell_view_and_frozen_time_column(tmp_path: Path, nats_url: str) -> None:
    """enter shows a 300-character reason whole, JSON pretty, times with their raw ns;
    on the 46-column mbp10 result the time column stays visible when scrolled right."""
    async with console(tmp_path, nats_url) as (app, pilot):
        await run_sql(app, pilot, "SELECT received_ns, reason, raw FROM quarantine")
        await focus_table(app, pilot)
        await pilot.press("right", "enter")
        await until(pilot, lambda: isinstance(app.screen, CellScreen))
        assert isinstance(app.screen, CellScreen) and app.screen.text == REASON
        await pilot.press("ctrl+c")
        assert app.clipboard == REASON
        await pilot.press("escape", "right", "enter")
        await until(pilot, lambda: isinstance(app.screen, CellScreen))
        assert app.screen.text == '{\n  "symbol": "SPY",\n  "size": 3\n}'
        await pilot.press("escape", "left", "left", "enter")
        await until(pilot, lambda: isinstance(app.screen, CellScreen))
        text = app.screen.text
        assert text == f"2026-01-01 00:00:00.000000007 (UTC)\n{BASE_NS + 7} ns"
        await pilot.press("escape")

        panel = await run_sql(app, pilot, "SELECT * FROM bronze_futures_mbp10 ORDER BY seq")
        assert panel.result is not None and panel.result.num_columns == len(MBP10.columns)
        assert panel.result.num_columns >= 45
        table = await focus_table(app, pilot)
        assert table.fixed_columns == 1
        await pilot.press("ctrl+right")  # the last column
        await until(pilot, lambda: table.scroll_x > 100)
        header = table.render_line(0).text
        assert header.lstrip().startswith("ts_event_ns")
        assert labels(table)[-1] in header  # scrolled to the last column: seq
        assert "2026-01-01 00:00:00.000000000" in table.render_line(1).text


async def test_error_shows_whole_text_and_clears_the_result(tmp_path: Path,
                                                            nats_url: str) -> None:
    """A DuckDB error keeps its "Did you mean" line; the old result and table are gone."""
    async with console(tmp_path, nats_url) as (app, pilot):
        panel = await run_sql(app, pilot, "SELECT count(*) AS n FROM bronze_stocks_trades")
        assert panel.result is not None and panel.table is not None
        await run_sql(app, pilot, "SELECT * FROM bronze_stocks_trade")
        assert panel.result is None and panel.table is None
        error = text_of(panel.query_one("#query-error-text", Static))
        assert "Table with name bronze_stocks_trade does not exist" in error
        assert 'Did you mean "bronze_stocks_trades"' in error
        assert "does not exist" in panel_info(panel)
        assert app.model.errors == 0  # the user's SQL: the panel says it, not the status line
        await pilot.press("ctrl+o")  # nothing to export any more
        await pilot.pause(0.2)
        assert app.last_export is None


async def test_editor_completes_views_and_columns(tmp_path: Path, nats_url: str) -> None:
    """The editor's language is sql; typing offers silver_options_greeks, tab inserts it,
    `view.` offers its columns; ctrl+space offers them on demand."""
    async with console(tmp_path, nats_url) as (app, pilot):
        panel = app.query_one(QueryPanel)
        await pilot.press("slash")
        editor = panel.editor
        assert editor.language == "sql" and app.focused is editor
        editor.text = ""
        popup = app.query_one(CompletionList)
        await pilot.press(*"select * from silver_options_g")
        await until(pilot, lambda: popup.display and popup.option_count == 1)
        assert offered(popup) == ["silver_options_greeks"]
        await pilot.press("tab")
        assert editor.text == "select * from silver_options_greeks" and not popup.display
        await pilot.press("space", *"where silver_options_greeks.")
        await until(pilot, lambda: popup.display)
        columns = offered(popup)
        assert columns == by_name("options.greeks").columns
        await pilot.press("down", "enter")
        assert editor.text.endswith("silver_options_greeks.ts_recv_ns")
        await pilot.press("escape")  # no popup: leaves the editor
        assert app.focused is not editor
        editor.focus()
        editor.text = "select delt"
        editor.move_cursor(editor.document.end)
        await pilot.press("ctrl+space")
        await until(pilot, lambda: popup.display)
        assert "delta" in offered(popup)
        await pilot.press("f5")  # running the query leaves no popup over the editor
        assert not popup.display


def offered(popup: CompletionList) -> list[str]:
    """The names the popup offers."""
    return [popup.get_option_at_index(i).id or "" for i in range(popup.option_count)]


async def test_history_persists_across_consoles(tmp_path: Path, nats_url: str) -> None:
    """A query run in one console is ctrl+up in the next; ctrl+down returns to the draft."""
    first = "SELECT count(*) AS n FROM bronze_stocks_trades"
    async with console(tmp_path / "a", nats_url) as (app, pilot):
        await run_sql(app, pilot, first)
        await until(pilot, lambda: history.load() == [first])
    path = history.history_path()
    assert path.is_relative_to(Path(os.environ["XDG_STATE_HOME"]))
    async with console(tmp_path / "b", nats_url) as (app, pilot):
        editor = app.query_one(SqlTextArea)
        await until(pilot, lambda: editor.queries == [first])
        await pilot.press("slash")
        editor.text = "SELECT 1"
        await pilot.press("ctrl+up")
        assert editor.text == first
        await pilot.press("ctrl+down")
        assert editor.text == "SELECT 1"
        await run_sql(app, pilot, "SELECT 2 AS two")
        await until(pilot, lambda: history.load() == [first, "SELECT 2 AS two"])


def test_history_file_skips_damage_and_keeps_the_last(tmp_path: Path) -> None:
    """Bad lines are skipped; a repeated query moves to the end; at most MAX_ENTRIES."""
    path = tmp_path / "h.jsonl"
    path.write_text('{"sql": "a"}\nnot json\n{"sql": "b"}\n{"x": 1}\n')
    assert history.load(path) == ["a", "b"]
    assert history.add("a", path) == ["b", "a"] == history.load(path)
    queries = [str(i) for i in range(history.MAX_ENTRIES + 5)]
    history.save(queries, path)
    assert history.load(path) == queries[-history.MAX_ENTRIES:]
    assert history.load(tmp_path / "missing.jsonl") == []
