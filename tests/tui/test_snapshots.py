"""Snapshots of the main screens with frozen data, at 80x24 and at 160x48.

A fixed model of events, a fixed clock, UTC: nothing depends on the machine. 80x24 is the
smallest terminal every tab must stay usable on (docs: the Console v2 issue).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from textual.pilot import Pilot

from lakeconsole.silver.result import CompactionResult
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.widgets.compaction import CompactionPanel
from lakeconsole.tui.widgets.partitions import PartitionTree
from lakeconsole.tui.widgets.query import QueryPanel
from tests.tui.helpers import FROZEN_NOW, fill_tree, frozen_model

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
RESULTS = [
    CompactionResult("stocks.trades/SPY/2026-01-01", "stocks.trades", "SPY", "2026-01-01",
                     status="ok", rows_read=12000, rows_written=11950, duplicates_removed=50,
                     files_written=1, bytes_written=412_000, seconds=0.42),
    CompactionResult("stocks.trades/QQQ/2026-01-01", "stocks.trades", "QQQ", "2026-01-01",
                     status="ok", unchanged=True, seconds=0.01),
    CompactionResult("stocks.quotes/SPY/2026-01-01", "stocks.quotes", "SPY", "2026-01-01",
                     status="failed", error="CompactionError: lease held"),
]
START_NS = 1_767_225_600_000_000_000  # 2026-01-01 00:00:00 UTC


def frozen_app() -> LakeConsoleApp:
    """The console without a service: frozen model, frozen clock."""
    return LakeConsoleApp(None, model=frozen_model(), clock=lambda: FROZEN_NOW)


async def without_toasts(pilot: Pilot[int]) -> None:
    """Drop the frozen error's notification: the dashboard snapshot shows it already."""
    await pilot.pause()
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_dashboard(snap_compare: Any, size: tuple[int, int]) -> None:
    """Dataset table (fitted to the width), rate sparkline, flush log, red status line."""
    assert snap_compare(frozen_app(), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_partitions(snap_compare: Any, size: tuple[int, int]) -> None:
    """The tree with fixed nodes down to the files of one hour, the cursor on the hour."""

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("2")
        tree = pilot.app.query_one(PartitionTree)
        hour = fill_tree(tree)
        await pilot.pause(0.2)
        tree.move_cursor(hour)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_compaction(snap_compare: Any, size: tuple[int, int]) -> None:
    """The compaction panel after a run: inputs, full progress bar, result lines."""

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("3")
        panel = pilot.app.query_one(CompactionPanel)
        panel.fill("2026-01-01", "stocks.trades", None)
        panel.show_results(RESULTS, 1.25)
        pilot.app.set_focus(None)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_query(snap_compare: Any, size: tuple[int, int]) -> None:
    """A result with readable ns times, prices to the decimals they need, grouped sizes."""
    table = pa.table({
        "ts_event_ns": [START_NS + 52_200 * 10**9 + i * 1_234_567 for i in range(30)],
        "ts_recv_ns": [START_NS + 52_200 * 10**9 + i * 1_234_567 + 98_765 for i in range(30)],
        "symbol": ["SPY", "QQQ"] * 15,
        "price": [6040.0 if i % 3 == 0 else 6039.75 - i / 100 for i in range(30)],
        "size": [100 + 1_000 * (i % 7) for i in range(30)],
        "seq": list(range(1_000_000, 1_000_030)),
    })

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("4")
        panel = pilot.app.query_one(QueryPanel)
        panel.fill("silver", "stocks.trades", "SPY", "2026-01-01")
        await panel.show_result(table, 0.0123, False)
        pilot.app.set_focus(None)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    """The help screen over the dashboard."""

    async def run_before(pilot: Pilot[int]) -> None:
        await without_toasts(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)
