"""Iceberg in the console: the Query form's `as of` and the Partitions tab's history.

A real lake compacted twice into a real SQLite-catalog Iceberg table; the console runs on a
real Service (and nats-server), or frozen without one for the form's own checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from lakeconsole.config import Settings
from lakeconsole.errors import ConfigError, QueryError
from lakeconsole.iceberg.history import SnapshotEntry
from lakeconsole.iceberg.sync import sync
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import GoldReader, SilverReader
from lakeconsole.service import Service
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.format import format_ns
from lakeconsole.tui.widgets.file_detail import FileDetailPane
from lakeconsole.tui.widgets.partitions import PartitionTree
from lakeconsole.tui.widgets.query import QueryPanel
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write
from tests.iceberg.helpers import GOLD, flush, ts
from tests.tui.helpers import console_settings, text_of, until
from tests.tui.test_inspection import expand

SIZE = (160, 48)


@dataclass
class Lake:
    """SPY's date compacted twice: both snapshots and the reader's rows after each."""

    settings: Settings
    first: SnapshotEntry
    second: SnapshotEntry
    old: pa.Table
    new: pa.Table


def two_commits(root: Path, nats_url: str = "nats://127.0.0.1:1", *,
                iceberg: bool = True) -> Lake:
    """Compact SPY, then again with late rows; the commits at least 2 ms apart."""
    settings = console_settings(root, nats_url, **{"iceberg.enabled": iceberg})
    on = console_settings(root, nats_url, **{"iceberg.enabled": True})
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, on)
    reader = SilverReader(storage)
    write(storage, trade_table("SPY", ts(13, 40)))
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    old = reader.read_arrow("silver", TRADES, "SPY", DAY)
    time.sleep(0.01)
    write(storage, trade_table("SPY", ts(13, 10, offset=500), seq0=1000))
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    second, first = Service(on).iceberg_history("stocks.trades")
    return Lake(settings, first, second, old, reader.read_arrow("silver", TRADES, "SPY", DAY))


def test_service_reads_as_of_and_lists_the_history(tmp_path: Path) -> None:
    lake = two_commits(tmp_path / "lake")
    service = Service(lake.settings)  # never started: reads need no NATS
    assert [e.current for e in service.iceberg_history("stocks.trades")] == [True, False]
    got = service.read("silver", "stocks.trades", "SPY", DAY,
                       as_of_snapshot=lake.first.snapshot_id)
    assert got.equals(lake.old) and lake.old.num_rows == 40
    between = lake.second.committed_ms * 1_000_000 - 1
    assert service.read("silver", "stocks.trades", "SPY", DAY, as_of_ns=between).equals(lake.old)
    assert service.read("silver", "stocks.trades", "SPY", DAY).equals(lake.new)
    price = service.read("silver", "stocks.trades", "SPY", DAY, columns=["price"],
                         as_of_snapshot=lake.first.snapshot_id)
    assert price.equals(lake.old.select(["price"]))
    with pytest.raises(QueryError, match="reads Silver and Gold, not bronze"):
        service.read("bronze", "stocks.trades", "SPY", DAY, as_of_ns=between)


def test_service_says_iceberg_is_off(tmp_path: Path) -> None:
    lake = two_commits(tmp_path / "lake", iceberg=False)
    service = Service(lake.settings)
    with pytest.raises(ConfigError, match=r"Iceberg is off: set \[iceberg\] enabled = true"):
        service.iceberg_history("stocks.trades")
    with pytest.raises(ConfigError, match="Iceberg is off"):
        service.read("silver", "stocks.trades", "SPY", DAY, as_of_snapshot=1)


@pytest.mark.parametrize(("tier", "as_of", "iceberg", "message"), [
    ("bronze", "123", True, "as of: time travel reads Silver and Gold, not bronze"),
    ("silver", "yesterday", True, "as of: 'yesterday' is neither a snapshot id nor a time"),
    ("silver", "123", False, "as of: Iceberg is off; set [iceberg] enabled = true"),
])
async def test_the_form_refuses_an_as_of_it_cannot_read(
    tier: str, as_of: str, iceberg: bool, message: str,
) -> None:
    settings = console_settings(Path("/nonexistent"), "nats://127.0.0.1:1",
                                **{"iceberg.enabled": iceberg})
    app = LakeConsoleApp(None, settings=settings)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one(QueryPanel)
        panel.fill(tier, "stocks.trades", "SPY", DAY)
        panel.query_one("#q-as-of", Input).value = as_of
        app.action_run_query()
        await pilot.pause()
        assert text_of(panel.query_one("#query-info", Static)).startswith(message)


async def run_form(pilot: Pilot[int], app: LakeConsoleApp, as_of: str, rows: int) -> str:
    """Run the form with `as_of`; the info line once `rows` rows show."""
    panel = app.query_one(QueryPanel)
    panel.query_one("#q-as-of", Input).value = as_of
    panel.result = None
    app.action_run_query()
    await until(pilot, lambda: panel.result is not None)
    assert panel.result is not None and panel.result.num_rows == rows
    return text_of(panel.query_one("#query-info", Static))


def two_gold_syncs(settings: Settings) -> tuple[SnapshotEntry, pa.Table]:
    """Gold flushed and synced twice: the first snapshot and the Gold reader's rows then."""
    storage = Storage.from_settings(settings.storage)
    flush(storage, 5, DAY_NS + 13 * HOUR_NS)
    sync(storage, settings, [GOLD])
    old = GoldReader(storage).read_arrow("gold", GOLD.name, "SPY", DAY)
    flush(storage, 3, DAY_NS + 14 * HOUR_NS)
    sync(storage, settings, [GOLD])
    _, first = Service(settings).iceberg_history(GOLD.name)
    return first, old


async def test_as_of_in_the_form_and_the_history_pane(tmp_path: Path, nats_url: str) -> None:
    """The form reads the old rows by id and by time, Silver's and Gold's; enter on
    silver/stocks/trades lists both snapshots, the current one marked, and on
    gold/levels/signals Gold's."""
    lake = two_commits(tmp_path / "lake", nats_url)
    gold_first, gold_old = two_gold_syncs(lake.settings)
    app = LakeConsoleApp(Service(lake.settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.service is not None and app.service.started)
        await pilot.press("4")
        app.query_one(QueryPanel).fill("silver", "stocks.trades", "SPY", DAY)
        info = await run_form(pilot, app, str(lake.first.snapshot_id), 40)
        assert f"as of snapshot {lake.first.snapshot_id}" in info
        assert app.query_one(QueryPanel).result.equals(lake.old)  # type: ignore[union-attr]
        between = format_ns(lake.second.committed_ms * 1_000_000 - 1)  # UTC, as the form
        assert "as of " in await run_form(pilot, app, between, 40)
        assert "as of" not in await run_form(pilot, app, "", 50)
        app.query_one(QueryPanel).fill("gold", GOLD.name, "SPY", DAY)
        info = await run_form(pilot, app, str(gold_first.snapshot_id), 10)
        assert f"as of snapshot {gold_first.snapshot_id}" in info
        assert app.query_one(QueryPanel).result.equals(gold_old)  # type: ignore[union-attr]
        assert "as of" not in await run_form(pilot, app, "", 16)

        await pilot.press("2")
        tree = app.query_one(PartitionTree)
        trades = await expand(pilot, tree, "silver", "stocks", "trades")
        tree.move_cursor(trades)
        await pilot.press("enter")
        pane = app.query_one(FileDetailPane)
        body = pane.query_one("#file-detail-body", Static)
        await until(pilot, lambda: str(lake.first.snapshot_id) in text_of(body, 80))
        lines = text_of(body, 76).splitlines()
        assert lines[0] == "silver.stocks_trades"
        assert "2 live snapshots, newest first; times in UTC" in lines[1]
        assert lines[2].startswith(f"* {lake.second.snapshot_id}") and "overwrite" in lines[2]
        assert "files +1 -1 · rows +50 -40 · total 50 rows" in lines[3]
        assert lines[4].startswith(f"  {lake.first.snapshot_id}") and "append" in lines[4]
        assert format_ns(lake.first.committed_ms * 1_000_000)[:23] in lines[4]
        assert pane.is_open and pane.border_title == "stocks.trades snapshots"
        await pilot.press("up")  # the cursor leaves the dataset: the pane closes
        assert not pane.is_open
        signals = await expand(pilot, tree, "gold", "levels", "signals")
        tree.move_cursor(signals)
        await pilot.press("enter")
        await until(pilot, lambda: str(gold_first.snapshot_id) in text_of(body, 80))
        assert text_of(body, 76).splitlines()[0] == "gold.levels_signals"
        # Quit as a user does, so the service stops in order: its tasks must not be left
        # for the event loop's teardown to cancel (CI once hung there, past the timeout).
        app.set_focus(None)
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
