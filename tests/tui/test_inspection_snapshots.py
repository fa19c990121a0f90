"""Snapshots of a file's detail pane and the Quarantine tab, at 80x24 and at 160x48.

The detail is describe_file of a real Bronze file written under a fixed name; the
quarantine view holds fixed entries (a JSON payload and one that is not UTF-8); UTC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake.parquet import encode
from lakeconsole.lake.storage import Storage
from lakeconsole.query.inspect import describe_file
from lakeconsole.query.quarantine import QuarantineEntry, QuarantineView, ReasonCount, entry_id
from lakeconsole.tui.widgets.partitions import PartitionBrowser, PartitionTree
from lakeconsole.tui.widgets.quarantine import QuarantinePanel
from tests.factories import BASE_NS, trades
from tests.tui.helpers import TREE_BASE, fill_tree
from tests.tui.test_snapshots import frozen_app, without_toasts

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
JSON_RAW = b'{"ts_event_ns":1767225600000000000,"symbol":"SPY","price":"six hundred","seq":7}'
BINARY_RAW = b'{"ts_event_ns":1767225600000000000,"symbol":"\xff\xfeES","price":600.5,"seq":8}'


def entry(subject: str, seq: int, reason: str, raw: bytes, at: int) -> QuarantineEntry:
    return QuarantineEntry(entry_id(subject, seq, raw), subject, seq, at, reason, raw,
                           "quarantine/x/date=2026-01-01/part-x.parquet")


VIEW = QuarantineView(
    counts=(ReasonCount("market.futures.mbp10", "not valid UTF-8: invalid start byte", 1),
            ReasonCount("market.stocks.trades", "price: Expected `float`, got `str`", 3),
            ReasonCount("market.stocks.trades", "element N: missing field `size`", 2)),
    entries=(entry("market.futures.mbp10", 812, "not valid UTF-8: invalid start byte",
                   BINARY_RAW, BASE_NS + 5_000_000_000),
             entry("market.stocks.trades", 811, "price: Expected `float`, got `str`",
                   JSON_RAW, BASE_NS + 4_000_000_000)),
    rows=6, files=3, truncated=False)


@pytest.mark.parametrize("size", SIZES)
def test_file_detail(snap_compare: Any, size: tuple[int, int], tmp_path: Path) -> None:
    """The tree with the cursor on a file and that file's detail pane open."""
    storage = Storage(str(tmp_path / "lake"))
    path = f"{TREE_BASE}/hour=00/part-000001_000001_a.parquet"
    storage.write_atomic(path, encode(trades(1000, "SPY", BASE_NS, 3_000_000),
                                      by_name("stocks.trades"), seq_range=(1, 1000)))
    detail = describe_file(storage, path)

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        tree = pilot.app.query_one(PartitionTree)
        hour = fill_tree(tree)
        await pilot.pause(0.2)
        tree.move_cursor(hour.children[0])
        browser = pilot.app.query_one(PartitionBrowser)
        browser.describe(path)
        browser.pane.show(detail)
        await pilot.pause(0.2)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quarantine(snap_compare: Any, size: tuple[int, int]) -> None:
    """Counts, the entries, and the cursor's payload as a hex dump (it is not UTF-8)."""

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("6")
        await pilot.pause(0.3)  # the tab settles (focus) before the view arrives
        panel = pilot.app.query_one(QuarantinePanel)
        panel.show_view(VIEW)
        await pilot.pause(0.1)
        panel.table.focus()
        await pilot.pause(0.2)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_quarantine_json(snap_compare: Any, size: tuple[int, int]) -> None:
    """The second entry: its payload as indented JSON."""

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("6")
        await pilot.pause(0.3)
        panel = pilot.app.query_one(QuarantinePanel)
        panel.show_view(VIEW)
        await pilot.pause(0.1)
        panel.table.focus()
        await pilot.press("down")
        await pilot.pause(0.2)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)
