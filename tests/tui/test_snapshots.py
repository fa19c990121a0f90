"""Snapshots of the main screens with frozen data: a model of fixed events, a fixed clock."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from textual.pilot import Pilot

from lakeconsole.query.catalog import CatalogNode
from lakeconsole.silver.result import CompactionResult
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.widgets.compaction import CompactionPanel
from lakeconsole.tui.widgets.partitions import PartitionTree
from lakeconsole.tui.widgets.query import QueryPanel
from tests.tui.helpers import FROZEN_NOW, frozen_model

SIZE = (160, 48)
RESULTS = [
    CompactionResult("stocks.trades/SPY/2026-01-01", "stocks.trades", "SPY", "2026-01-01",
                     status="ok", rows_read=12000, rows_written=11950, duplicates_removed=50,
                     files_written=1, bytes_written=412_000, seconds=0.42),
    CompactionResult("stocks.trades/QQQ/2026-01-01", "stocks.trades", "QQQ", "2026-01-01",
                     status="ok", unchanged=True, seconds=0.01),
    CompactionResult("stocks.quotes/SPY/2026-01-01", "stocks.quotes", "SPY", "2026-01-01",
                     status="failed", error="CompactionError: lease held"),
]


def frozen_app() -> LakeConsoleApp:
    """The console without a service: frozen model, frozen clock."""
    return LakeConsoleApp(None, model=frozen_model(), clock=lambda: FROZEN_NOW)


def test_dashboard(snap_compare: Any) -> None:
    """Dataset table, rate sparkline, flush log, status line with an error."""
    assert snap_compare(frozen_app(), terminal_size=SIZE)


def test_partitions(snap_compare: Any) -> None:
    """The tree with fixed nodes down to the files of one hour."""
    base = "bronze/stocks/trades/symbol=SPY/date=2026-01-01"

    def node(path: str, kind: str, files: int, size: int, rows: int | None = None,
             **kw: Any) -> CatalogNode:
        return CatalogNode(path.rsplit("/", 1)[-1], path, kind, files, size, rows,
                           tier=path.split("/")[0], **kw)

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        tree = pilot.app.query_one(PartitionTree)
        levels = [
            ("", [node("bronze", "tier", 3, 90_000), node("silver", "tier", 1, 40_000),
                  node("quarantine", "tier", 1, 1_200)]),
            ("bronze", [node("bronze/stocks", "asset", 3, 90_000)]),
            ("bronze/stocks", [node("bronze/stocks/trades", "dataset", 3, 90_000,
                                    dataset="stocks.trades")]),
            ("bronze/stocks/trades", [
                node("bronze/stocks/trades/symbol=QQQ", "value", 1, 30_000, value="QQQ"),
                node("bronze/stocks/trades/symbol=SPY", "value", 2, 60_000, value="SPY")]),
            ("bronze/stocks/trades/symbol=SPY", [node(base, "date", 2, 60_000,
                                                      date="2026-01-01")]),
            (base, [node(f"{base}/hour=00", "hour", 2, 60_000, 2000, hour=0)]),
            (f"{base}/hour=00", [
                node(f"{base}/hour=00/part-000001_000001_a.parquet", "file", 1, 30_000, 1000),
                node(f"{base}/hour=00/part-000002_000001_a.parquet", "file", 1, 30_000, 1000)]),
        ]
        current = tree.root
        for path, children in levels:
            if path:
                current = next(c for c in current.children if c.data and c.data.path == path)
            tree._fill(current, path, children)
            current.expand()
        tree.move_cursor(current)
        await pilot.pause(0.2)

    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=run_before)


def test_compaction(snap_compare: Any) -> None:
    """The compaction panel after a run: inputs, full progress bar, result lines."""

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("3")
        panel = pilot.app.query_one(CompactionPanel)
        panel.fill("2026-01-01", "stocks.trades", None)
        panel.show_results(RESULTS, 1.25)
        pilot.app.set_focus(None)

    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=run_before)


def test_query(snap_compare: Any) -> None:
    """The query panel with an Arrow result in the fast data table."""
    table = pa.table({
        "ts_event_ns": [1_767_225_600_000_000_000 + i * 1000 for i in range(30)],
        "symbol": ["SPY", "QQQ"] * 15,
        "price": [600.0 + i / 100 for i in range(30)],
        "size": [100 + i % 7 for i in range(30)],
    })

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("4")
        panel = pilot.app.query_one(QueryPanel)
        panel.fill("bronze", "stocks.trades", "SPY", "2026-01-01")
        await panel.show_result(table, 0.0123, False)
        pilot.app.set_focus(None)
        await pilot.pause(0.2)

    assert snap_compare(frozen_app(), terminal_size=SIZE, run_before=run_before)


def test_help(snap_compare: Any) -> None:
    """The help screen over the dashboard."""
    assert snap_compare(frozen_app(), terminal_size=SIZE, press=["question_mark"])
