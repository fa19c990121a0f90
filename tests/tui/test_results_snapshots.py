"""Snapshots of the results grid and the SQL editor at 80x24 and 160x48 (frozen data, UTC)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from textual.pilot import Pilot

from lakeconsole.contract.schemas import by_name
from lakeconsole.tui.widgets.query import QueryPanel
from lakeconsole.tui.widgets.sql_editor import CompletionList, SqlTextArea
from tests.tui.helpers import until
from tests.tui.test_snapshots import SIZES, START_NS, frozen_app, without_toasts

MBP10 = by_name("futures.mbp10")


def book(n: int = 30) -> pa.Table:
    """A full-width futures.mbp10 result: readable times, prices, sizes."""
    columns: dict[str, list[Any]] = {}
    for i, field in enumerate(MBP10.schema):
        if pa.types.is_floating(field.type):
            columns[field.name] = [6040.25 + (i % 10) * 0.25 - r * 0.25 for r in range(n)]
        elif pa.types.is_integer(field.type):
            columns[field.name] = [(i * 37 + r * 101) % 2000 + 1 for r in range(n)]
        elif pa.types.is_boolean(field.type):
            columns[field.name] = [r == 0 for r in range(n)]
        else:
            columns[field.name] = ["ESZ6" if r % 2 else "ESH7" for r in range(n)]
    columns["ts_event_ns"] = [START_NS + 52_200 * 10**9 + r * 1_234_567 for r in range(n)]
    columns["ts_recv_ns"] = [t + 98_765 for t in columns["ts_event_ns"]]
    columns["source"] = ["cme"] * n
    return pa.Table.from_pydict(columns, schema=MBP10.schema)


async def show_book(pilot: Pilot[int]) -> QueryPanel:
    """The Query tab with the book result, the table focused."""
    await pilot.press("4")
    panel = pilot.app.query_one(QueryPanel)
    panel.set_mode("sql")
    await panel.show_result(book(), 0.0123, False)
    assert panel.table is not None
    panel.table.focus()
    await without_toasts(pilot)
    return panel


@pytest.mark.parametrize("size", SIZES)
def test_grid_sorted_filtered_scrolled(snap_compare: Any, size: tuple[int, int]) -> None:
    """Sorted ▼ on a price, filtered to ESZ6, scrolled right: ts_event_ns stays at the left."""

    async def run_before(pilot: Pilot[int]) -> None:
        panel = await show_book(pilot)
        await pilot.press(*["right"] * 6, "s", "s")
        await pilot.press("slash", *"esz6", "enter")
        await pilot.press(*["right"] * 12)
        await pilot.pause(0.5)
        assert panel.grid.order.text == "esz6" and panel.grid.order.descending
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_cell_view(snap_compare: Any, size: tuple[int, int]) -> None:
    """enter on a time: the readable time and its raw ns."""

    async def run_before(pilot: Pilot[int]) -> None:
        await show_book(pilot)
        await pilot.press("down", "enter")
        await pilot.pause(0.2)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_sql_completion(snap_compare: Any, size: tuple[int, int]) -> None:
    """The highlighted editor and the completion popup under `silver_options_greeks.`."""

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("slash")
        editor = pilot.app.query_one(SqlTextArea)
        editor.cursor_blink = False  # a blinking cursor would make the snapshot flaky
        editor.text = "SELECT count(*) AS n, 'x' FROM silver_options_greeks\nWHERE "
        editor.move_cursor(editor.document.end)
        await pilot.press(*"silver_options_greeks.de")
        popup = pilot.app.query_one(CompletionList)
        await until(pilot, lambda: popup.display and popup.option_count == 1)
        await without_toasts(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)
