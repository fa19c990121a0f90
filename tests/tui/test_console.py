"""The console end to end: a real Service, a real nats-server, a temp lake, driven by Pilot."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static, TabbedContent, TextArea

from lakeconsole import events as ev
from lakeconsole.service import Service
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.screens.help import HelpScreen
from lakeconsole.tui.widgets.compaction import CompactionPanel
from lakeconsole.tui.widgets.dashboard import DatasetTable, StatusLine
from lakeconsole.tui.widgets.flushlog import FlushLog
from lakeconsole.tui.widgets.partitions import PartitionTree
from lakeconsole.tui.widgets.query import QueryPanel
from tests.ingest.helpers import BASE_NS, encode, publish, trade
from tests.tui.helpers import console_settings, text_of, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
SIZE = (160, 48)


@contextlib.asynccontextmanager
async def console(tmp_path: Path, nats_url: str, **overrides: Any
                  ) -> AsyncIterator[tuple[LakeConsoleApp, Pilot[int]]]:
    """A running console on a fresh lake; quits (clean flush) at the end if still running."""
    settings = console_settings(tmp_path / "lake", nats_url, **overrides)
    app = LakeConsoleApp(Service(settings), export_dir=tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.model.connection == "connected"
                    and app.service is not None and app.service._started)
        yield app, pilot
        if not app._stopping:
            app.set_focus(None)  # q in an input types a q
            await pilot.press("q")
            await until(pilot, lambda: app.return_code is not None)


async def publish_trades(url: str, n: int, symbol: str = "SPY") -> None:
    """`n` stock trades on 2026-01-01."""
    await publish(url, [("market.stocks.trades", encode(trade(i, BASE_NS + i * 1000, symbol)))
                        for i in range(n)])


def stats(app: LakeConsoleApp, name: str = "stocks.trades") -> Any:
    """The dashboard counters of one dataset."""
    return next(r for r in app.model.rows() if r.name == name)


def lake_files(root: Path, tier: str) -> list[Path]:
    """Visible Parquet files of a tier."""
    return [p for p in (root / tier).rglob("*.parquet") if not p.name.startswith((".", "_"))]


async def expand(pilot: Pilot[int], tree: PartitionTree, *names: str) -> Any:
    """Open tree nodes by name, one level at a time (loading each lazily)."""
    node = tree.root
    for name in names:
        await until(pilot, lambda n=node, want=name: any(c.data and c.data.name == want
                                                         for c in n.children))
        node = next(c for c in node.children if c.data and c.data.name == name)
        node.expand()
    return node


async def test_dashboard_counts_change_when_events_arrive(tmp_path: Path, nats_url: str) -> None:
    """Published trades show up as received, flushed files and flush-log lines."""
    async with console(tmp_path, nats_url) as (app, pilot):
        assert stats(app).received == 0
        await publish_trades(nats_url, 50)
        await until(pilot, lambda: stats(app).files >= 1 and stats(app).received == 50)
        await pilot.pause(0.3)
        table = text_of(app.query_one(DatasetTable))
        row = next(line for line in table.splitlines() if "stocks.trades" in line)
        assert " 50 " in row
        log = app.query_one(FlushLog)
        assert any("stocks.trades" in line.text for line in log.lines)
        assert "connected" in text_of(app.query_one(StatusLine))


async def test_tree_shows_a_written_partition_and_fills_the_panels(
        tmp_path: Path, nats_url: str) -> None:
    """The tree lists bronze → stocks → trades → symbol=SPY → date → hour; selecting fills."""
    async with console(tmp_path, nats_url) as (app, pilot):
        await publish_trades(nats_url, 20)
        await until(pilot, lambda: stats(app).files >= 1)
        await pilot.press("2")
        tree = app.query_one(PartitionTree)
        date = await expand(pilot, tree, "bronze", "stocks", "trades", "symbol=SPY",
                            "date=2026-01-01")
        await until(pilot, lambda: len(date.children) == 1)
        hour = date.children[0]
        assert hour.data.name == "hour=00" and hour.data.rows == 20
        assert "20 rows" in str(hour.label)
        tree.select_node(hour)
        await pilot.pause(0.2)
        compaction = app.query_one(CompactionPanel)
        assert compaction.values() == ("2026-01-01", "stocks.trades", "SPY")
        query = app.query_one(QueryPanel)
        assert query.request().date == "2026-01-01"  # type: ignore[union-attr]


async def test_tree_refreshes_on_new_flushes(tmp_path: Path, nats_url: str) -> None:
    """An open dataset node gains a new partition value after it is flushed."""
    async with console(tmp_path, nats_url) as (app, pilot):
        await publish_trades(nats_url, 5, "SPY")
        await until(pilot, lambda: stats(app).files >= 1)
        await pilot.press("2")
        tree = app.query_one(PartitionTree)
        trades = await expand(pilot, tree, "bronze", "stocks", "trades")
        await until(pilot, lambda: len(trades.children) == 1)
        await publish_trades(nats_url, 5, "QQQ")
        await until(pilot, lambda: len(trades.children) == 2, timeout=15)
        assert [c.data.name for c in trades.children] == ["symbol=QQQ", "symbol=SPY"]


async def test_compaction_from_the_panel_writes_silver(tmp_path: Path, nats_url: str) -> None:
    """Typing a date and pressing k compacts Bronze into Silver and shows the results."""
    pytest.importorskip("lakeconsole.silver.compactor")
    async with console(tmp_path, nats_url) as (app, pilot):
        await publish_trades(nats_url, 30)
        await until(pilot, lambda: stats(app).received == 30 and stats(app).buffered == 0
                    and stats(app).rows == 30)
        await pilot.press("3")
        panel = app.query_one(CompactionPanel)
        panel.fill("2026-01-01", "stocks.trades", "SPY")
        await pilot.press("k")
        await until(pilot, lambda: not app.compacting and app.model.compaction_state().results)
        assert lake_files(tmp_path / "lake", "silver")
        results = app.model.compaction_state().results
        assert sum(r.rows_written for r in results) == 30
        assert app.model.compaction_state().rows_read == 30  # progress counts rows too
        assert "done" in text_of(panel.query_one("#compact-status", Label))


async def test_compact_all_schemas_for_a_date(tmp_path: Path, nats_url: str) -> None:
    """`a` compacts every dataset of the date typed in the panel."""
    pytest.importorskip("lakeconsole.silver.compactor")
    async with console(tmp_path, nats_url) as (app, pilot):
        await publish_trades(nats_url, 10, "SPY")
        await publish_trades(nats_url, 10, "QQQ")
        await until(pilot, lambda: stats(app).rows == 20)
        await pilot.press("3")
        app.query_one(CompactionPanel).fill("2026-01-01", None, None)
        await pilot.press("a")
        await until(pilot, lambda: not app.compacting and app.model.compaction_state().results)
        assert len(app.model.compaction_state().results) >= 2


async def test_reader_query_shows_rows_and_exports(tmp_path: Path, nats_url: str) -> None:
    """The reader form returns the partition's rows; ctrl+o / ctrl+b write CSV / Parquet."""
    async with console(tmp_path, nats_url) as (app, pilot):
        await publish_trades(nats_url, 25)
        await until(pilot, lambda: stats(app).rows == 25)
        await pilot.press("4")
        panel = app.query_one(QueryPanel)
        panel.fill("bronze", "stocks.trades", "SPY", "2026-01-01")
        await pilot.press("f5")
        await until(pilot, lambda: panel.result is not None)
        assert panel.result is not None and panel.result.num_rows == 25
        assert "25 rows" in text_of(panel.query_one("#query-info", Static))
        assert panel.query_one("#query-table") is not None
        await pilot.press("ctrl+o")
        await until(pilot, lambda: app.last_export is not None)
        assert app.last_export is not None and app.last_export.suffix == ".csv"
        assert pacsv.read_csv(app.last_export).num_rows == 25
        app.last_export = None
        await pilot.press("ctrl+b")
        await until(pilot, lambda: app.last_export is not None)
        assert pq.read_table(app.last_export).num_rows == 25
        assert app.last_export.parent == tmp_path / "exports"


async def test_sql_query_shows_rows(tmp_path: Path, nats_url: str) -> None:
    """`/` focuses the SQL editor; ctrl+enter runs DuckDB over the lake's views."""
    async with console(tmp_path, nats_url) as (app, pilot):
        await publish_trades(nats_url, 12, "SPY")
        await publish_trades(nats_url, 8, "QQQ")
        await until(pilot, lambda: stats(app).rows == 20)
        await pilot.press("slash")
        editor = app.query_one("#q-sql", TextArea)
        assert app.focused is editor
        editor.text = ("SELECT symbol, count(*) AS n FROM bronze_stocks_trades "
                       "GROUP BY 1 ORDER BY 1")
        await pilot.press("ctrl+enter")
        panel = app.query_one(QueryPanel)
        await until(pilot, lambda: panel.result is not None)
        assert panel.result is not None
        assert panel.result.to_pylist() == [{"symbol": "QQQ", "n": 8}, {"symbol": "SPY", "n": 12}]
        editor.text = "SELECT * FROM nowhere"
        await pilot.press("ctrl+enter")
        await until(pilot, lambda: "nowhere" in text_of(panel.query_one("#query-info", Static)))


async def test_help_palette_tabs_and_back(tmp_path: Path, nats_url: str) -> None:
    """`?` opens help, escape closes it; ctrl+p opens the palette; 1-4 switch tabs."""
    async with console(tmp_path, nats_url) as (app, pilot):
        tabs = app.query_one(TabbedContent)
        for key, tab in (("2", "partitions"), ("3", "compact"), ("4", "query"),
                         ("1", "dashboard")):
            await pilot.press(key)
            assert tabs.active == tab
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"run query")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: tabs.active == "query")
        await pilot.press("4")
        app.query_one("#q-date", Input).focus()
        await pilot.press("escape")
        assert app.focused is None
        await pilot.press("escape")
        assert tabs.active == "dashboard"


async def test_writer_error_is_a_notification_and_red_status(
        tmp_path: Path, nats_url: str) -> None:
    """An ErrorRaised from the service shows a notification and a red status line."""
    async with console(tmp_path, nats_url) as (app, pilot):
        assert app.service is not None
        app.service.emit(ev.ErrorRaised("flush stocks.trades", "disk full"))
        status = app.query_one(StatusLine)
        await until(pilot, lambda: status.has_class("-error"))
        assert any("disk full" in str(n.message) for n in app._notifications)
        assert app.is_running


async def test_quit_flushes_buffered_events(tmp_path: Path, nats_url: str) -> None:
    """Events still buffered (age limit not reached) are written when q is pressed."""
    async with console(tmp_path, nats_url, **{"bronze.max_age_s": 600.0}) as (app, pilot):
        await publish_trades(nats_url, 40)
        await until(pilot, lambda: stats(app).buffered == 40)
        assert lake_files(tmp_path / "lake", "bronze") == []
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    files = lake_files(tmp_path / "lake", "bronze")
    assert sum(pq.read_metadata(f).num_rows for f in files) == 40


async def test_ctrl_q_from_the_sql_editor_flushes_and_quits(
        tmp_path: Path, nats_url: str) -> None:
    """ctrl+q quits even from a text field, with the same clean flush as q."""
    async with console(tmp_path, nats_url, **{"bronze.max_age_s": 600.0}) as (app, pilot):
        await publish_trades(nats_url, 15)
        await until(pilot, lambda: stats(app).buffered == 15)
        await pilot.press("slash")
        assert isinstance(app.focused, TextArea)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    files = lake_files(tmp_path / "lake", "bronze")
    assert sum(pq.read_metadata(f).num_rows for f in files) == 15


async def test_keymap_override_and_theme(tmp_path: Path, nats_url: str) -> None:
    """console.keys rebinds an action by id; console.theme picks a shipped theme."""
    overrides = {"console.keys": {"help": "f2", "bogus": "f3"}, "console.theme": "lake-light"}
    async with console(tmp_path, nats_url, **overrides) as (app, pilot):
        assert app.theme == "lake-light"
        await pilot.press("f2")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert any("bogus" in w for w in app.warnings)


async def test_quit_works_while_nats_is_unreachable(tmp_path: Path) -> None:
    """No server: the status says disconnected, and q still exits cleanly."""
    from tests.conftest import free_port

    settings = console_settings(tmp_path / "lake", f"nats://127.0.0.1:{free_port()}")
    app = LakeConsoleApp(Service(settings), export_dir=tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        status = app.query_one(StatusLine)
        await until(pilot, lambda: "NATS disconnected" in text_of(status))
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
