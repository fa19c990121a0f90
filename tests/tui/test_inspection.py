"""Inspection in the console: a file's detail pane, tier order, consistent counts, Quarantine.

The offline tests drive the real widgets over a real lake on disk (the tree's loader, the
pane's describer and the quarantine reader are the Service's functions, called directly);
the last test runs the whole console on a real Service and nats-server and replays by key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats
import pytest
from textual.widgets import DataTable, Label, Static, TabbedContent, TextArea

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import replays
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage
from lakeconsole.query.catalog import list_children
from lakeconsole.query.inspect import describe_file
from lakeconsole.query.quarantine import read_view
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.screens.confirm import ConfirmScreen
from lakeconsole.tui.widgets.file_detail import FileDetailPane
from lakeconsole.tui.widgets.partitions import PartitionBrowser, PartitionTree
from lakeconsole.tui.widgets.quarantine import QuarantinePanel
from tests.factories import BASE_NS, rows, trades, write
from tests.ingest.helpers import publish
from tests.tui.helpers import console_settings, text_of, until

SIZE = (160, 48)
JSON_PAYLOAD = b'{"ts_event_ns":1767225600000000000,"symbol":"SPY","price":"six hundred"}'
BINARY_PAYLOAD = b"\x00\x01\xff\xfe{\"symbol\":\"SPY\"}\x80"


def lake_with_everything(root: Path) -> Storage:
    """Bronze, Silver and Gold files and two quarantined messages (JSON, not UTF-8)."""
    storage = Storage(str(root))
    write(storage, trades(20, "SPY"))
    write(storage, trades(4, "SPY"), tier="silver")
    gold = by_name("levels.signals")
    write(storage, rows(gold, {"ts_event_ns": [BASE_NS], "underlying": ["SPY"], "seq": [1]}),
          gold)
    write_records(storage, [
        QuarantineRecord(BASE_NS + 5, "market.stocks.trades", 7, "element 0: price: "
                         "Expected `float`, got `str`", JSON_PAYLOAD),
        QuarantineRecord(BASE_NS + 9, "market.futures.mbp10", 8,
                         "not valid JSON: invalid UTF-8", BINARY_PAYLOAD),
    ])
    return storage


def offline_app(root: Path) -> LakeConsoleApp:
    return LakeConsoleApp(None, settings=console_settings(root, "nats://127.0.0.1:1"))


def wire(app: LakeConsoleApp, storage: Storage) -> PartitionTree:
    """Give the widgets the Service's storage functions (no NATS needed to browse)."""
    tree = app.query_one(PartitionTree)
    tree.loader = lambda path: list_children(storage, path)
    app.query_one(PartitionBrowser).describer = lambda path: describe_file(storage, path)
    app.query_one(QuarantinePanel).reader = lambda: read_view(storage)
    return tree


async def expand(pilot: Any, tree: PartitionTree, *names: str) -> Any:
    """Open tree nodes by name, one level at a time (loading each lazily)."""
    node = tree.root
    for name in names:
        await until(pilot, lambda n=node, want=name: any(c.data and c.data.name == want
                                                         for c in n.children))
        node = next(c for c in node.children if c.data and c.data.name == name)
        node.expand()
    return node


async def test_enter_on_a_file_opens_its_detail_pane(tmp_path: Path) -> None:
    """Schema, row groups with times, ZSTD, stream seqs; the pane follows, then closes."""
    storage = lake_with_everything(tmp_path / "lake")
    app = offline_app(tmp_path / "lake")
    async with app.run_test(size=SIZE) as pilot:
        tree = wire(app, storage)
        await pilot.press("2")
        tree.load(tree.root)
        hour = await expand(pilot, tree, "bronze", "stocks", "trades", "symbol=SPY",
                            "date=2026-01-01", "hour=00")
        await until(pilot, lambda: len(hour.children) == 1)
        pane = app.query_one(FileDetailPane)
        assert not pane.is_open and not pane.display
        await pilot.pause(0.2)
        tree.move_cursor(hour.children[0])
        await pilot.press("enter")
        await until(pilot, lambda: pane.detail is not None)
        assert pane.display and pane.region.width > 0
        text = text_of(app.query_one("#file-detail-body", Static))
        assert "20 rows · 1 row group · ZSTD" in text
        assert "stream seq 0 .. 19" in text
        assert "2026-01-01 00:00:00.000000000" in text and "2026-01-01 00:00:00.000019000" in text
        assert "Row groups" in text and "Schema" in text and "lakeconsole.schema_id" in text
        assert "stocks.trades.v1" in text and "ts_event_ns" in text
        await pilot.press("t")  # local time: the pane redraws (UTC+0 here, so check the call)
        assert pane.local_time
        await pilot.press("left")  # to the hour: not a file, the pane closes
        assert tree.cursor_node is hour and not pane.is_open


async def test_tiers_in_order_and_parents_agree_with_children(tmp_path: Path) -> None:
    """bronze, silver, gold, quarantine; a newer listing below updates the counts above."""
    storage = lake_with_everything(tmp_path / "lake")
    app = offline_app(tmp_path / "lake")
    async with app.run_test(size=SIZE) as pilot:
        tree = wire(app, storage)
        await pilot.press("2")
        tree.load(tree.root)
        await until(pilot, lambda: len(tree.root.children) == 4)
        assert [c.data.name for c in tree.root.children] == [  # type: ignore[union-attr]
            "bronze", "silver", "gold", "quarantine"]
        spy = await expand(pilot, tree, "bronze", "stocks", "trades", "symbol=SPY")
        await until(pilot, lambda: len(spy.children) == 1)
        trades_node, bronze = spy.parent, spy.parent.parent.parent
        assert bronze.data.files == trades_node.data.files == spy.data.files == 1
        write(storage, trades(5, "SPY", BASE_NS + 10**9))  # a new flush, listed only below
        tree.load(spy)
        await until(pilot, lambda: spy.data.files == 2)
        assert trades_node.data.files == 2 and bronze.data.files == 2
        assert "2 files" in str(trades_node.label) and "2 files" in str(bronze.label)
        tree.load(tree.root)  # the root's listing agrees, so nothing moves back
        await pilot.pause(0.5)
        assert bronze.data.files == 2


async def test_quarantine_view_counts_and_payloads(tmp_path: Path) -> None:
    """Counts per subject and reason; JSON shown indented, bytes that are not UTF-8 as hex."""
    storage = lake_with_everything(tmp_path / "lake")
    app = offline_app(tmp_path / "lake")
    async with app.run_test(size=SIZE) as pilot:
        wire(app, storage)
        panel = app.query_one(QuarantinePanel)
        await pilot.press("6")
        await until(pilot, lambda: panel.view is not None and app.focused is panel.table)
        counts = app.query_one("#q-counts", DataTable)
        cells = [[str(c) for c in counts.get_row_at(i)] for i in range(counts.row_count)]
        assert cells == [
            ["market.futures.mbp10", "not valid JSON: invalid UTF-8", "1"],
            ["market.stocks.trades", "element N: price: Expected `float`, got `str`", "1"]]
        assert "2 rows in 2 files · 2 entries" in str(app.query_one("#q-summary", Label).content)
        area = app.query_one("#q-payload", TextArea)
        header = app.query_one("#q-payload-header", Label)
        assert "hex (not UTF-8)" in str(header.content)  # newest first: the binary one
        assert area.text.splitlines()[0].startswith("00000000  00 01 ff fe 7b 22 73 79")
        await pilot.press("down")
        assert "JSON" in str(header.content)
        assert area.text.startswith('{\n  "ts_event_ns": 1767225600000000000,\n  "symbol"')
        await pilot.press("space")  # marks the JSON entry (and moves on)
        assert len(panel.table.marked) == 1
        assert "1 marked" in str(app.query_one("#q-summary", Label).content)
        await pilot.press("R")  # no service here: nothing to ask
        assert not isinstance(app.screen, ConfirmScreen)
        assert any(str(n.message) == "no service" for n in app._notifications)


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_replay_by_key_from_the_console(tmp_path: Path, nats_url: str) -> None:
    """R, then y: the entry is republished, recorded and marked; a second R is refused."""
    from lakeconsole.service import Service

    settings = console_settings(tmp_path / "lake", nats_url)
    app = LakeConsoleApp(Service(settings))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.service is not None and app.service._started)
        await publish(nats_url, [("market.stocks.trades", b"hello, not json")])
        storage = Storage(str(tmp_path / "lake"))
        await until(pilot, lambda: len(read_view(storage).entries) == 1)
        nc = await nats.connect(nats_url)
        got: list[Any] = []

        async def on_msg(msg: Any) -> None:
            got.append(msg)

        await nc.subscribe("market.stocks.trades", cb=on_msg)
        await nc.flush()
        panel = app.query_one(QuarantinePanel)
        await pilot.press("6")
        await until(pilot, lambda: panel.view is not None and len(panel.entries) == 1)
        (entry,) = panel.entries.values()
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: any("replayed 1" in str(n.message)
                                       for n in app._notifications))
        await until(pilot, lambda: len(got) == 1)
        assert got[0].data == b"hello, not json"
        record = replays.read_record(storage, entry.entry_id)
        assert record is not None and record.state == "done"
        # Still not JSON: the copy is quarantined again as a new entry; the old one is marked.
        await until(pilot, lambda: len(read_view(storage).entries) == 2)
        await pilot.press("r")
        await until(pilot, lambda: len(panel.entries) == 2
                    and panel.entries[entry.entry_id].replay_state == "replayed")
        row = panel.table.get_row(entry.entry_id)
        assert str(row[1]) == "replayed"
        panel.table.move_cursor(row=panel.table.get_row_index(entry.entry_id))
        await pilot.press("R", "y")
        await until(pilot, lambda: any("refused 1" in str(n.message) and "already replayed"
                                       in str(n.message) for n in app._notifications))
        assert len(got) == 1
        await nc.close()
        assert app.query_one(TabbedContent).active == "quarantine"
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
