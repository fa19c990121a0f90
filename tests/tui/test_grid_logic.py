"""The grid's pure parts: sort and filter on Arrow, the full-cell text, vectorized column
text (same as the per-value forms), SQL completion and highlighting."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from lakeconsole.tui.columntext import float_texts, grouped_texts, time_texts
from lakeconsole.tui.completion import candidates, word_before
from lakeconsole.tui.format import format_ns_many
from lakeconsole.tui.tableview import (
    GridOrder,
    arrange,
    cell_detail,
    display_table,
    frozen_columns,
    row_text,
)
from lakeconsole.tui.widgets.sql_editor import SqlEditor, SqlTextArea

NS = 1_795_789_865_123_456_789  # 2026-11-27 14:31:05.123456789 UTC
RAW = pa.table({"ts_event_ns": [NS + 2, NS, NS + 1, None], "symbol": ["SPY", "QQQ", "spy", "IWM"],
                "price": [10.5, 9.25, 11.0, None], "size": [1200, 15, 7, 3]})


def test_sort_uses_raw_values_and_cycles() -> None:
    """Prices sort as numbers (not text), nulls last; s cycles ▲, ▼, off."""
    display = display_table(RAW)
    order = GridOrder().next_sort(2)
    shown = arrange(RAW, display, order)
    assert [shown.raw_row(i) for i in range(4)] == [1, 0, 2, 3]
    assert shown.display.column_names[2].strip() == "price ▲"
    order = order.next_sort(2)
    assert [arrange(RAW, display, order).raw_row(i) for i in range(4)] == [2, 0, 1, 3]
    assert order.next_sort(2) == GridOrder()
    assert arrange(RAW, display, GridOrder().next_sort(3)).display.column(3)[0].as_py() \
        .strip() == "3"


def test_filter_matches_shown_text_and_raw_ns_ignoring_case() -> None:
    """`spy` keeps SPY and spy; a readable time and a raw ns both match; no hit: no rows."""
    display = display_table(RAW)
    spy = arrange(RAW, display, GridOrder(text="spy"))
    assert [spy.raw_row(i) for i in range(spy.display.num_rows)] == [0, 2]
    assert arrange(RAW, display, GridOrder(text="14:31:05.123456790")).display.num_rows == 1
    assert arrange(RAW, display, GridOrder(text=str(NS + 2))).display.num_rows == 1
    assert arrange(RAW, display, GridOrder(text="1,200")).display.num_rows == 1
    assert arrange(RAW, display, GridOrder(text="nothing")).display.num_rows == 0
    both = arrange(RAW, display, GridOrder(0, True, "spy"))
    assert [both.raw_row(i) for i in range(2)] == [0, 2]
    assert row_text(both.display, 0) == "2026-11-27 14:31:05.123456791\tSPY\t10.50\t1,200"


def test_cell_detail_whole_values() -> None:
    """Times: readable and raw ns; JSON pretty; other bytes hex; floats in full; null."""
    table = pa.table({"received_ns": [NS], "reason": ["r" * 300], "raw": [b'{"a":[1]}'],
                      "bin": [b"\xff\x00"], "x": [0.1 + 0.2], "n": pa.array([None], pa.int64())})
    assert cell_detail(table, 0, 0) == f"2026-11-27 14:31:05.123456789 (UTC)\n{NS} ns"
    assert cell_detail(table, 0, 1) == "r" * 300
    assert cell_detail(table, 0, 2) == '{\n  "a": [\n    1\n  ]\n}'
    assert cell_detail(table, 0, 3) == "ff00"
    assert cell_detail(table, 0, 4) == "0.30000000000000004"
    assert cell_detail(table, 0, 5) == "null"


def test_frozen_columns_up_to_the_first_time_column() -> None:
    """ts_event_ns first: 1; a time in third place: 3; none in the first three: 0."""
    assert frozen_columns(RAW) == 1
    assert frozen_columns(RAW.select([1, 2, 0])) == 3
    assert frozen_columns(RAW.select([1, 2, 3, 0])) == 0


@pytest.mark.parametrize("places", range(9))
def test_vectorized_texts_equal_the_per_value_forms(places: int) -> None:
    """Arrow-built texts are exactly f"{v:.Nf}", f"{v:,}" and format_ns (nulls kept)."""
    rng = random.Random(places)
    floats = [None, 0.0, -0.0, -0.001, 6040.25, -6039.75, float("nan")]
    floats += [round(rng.uniform(-1e5, 1e5), places) for _ in range(2000)]
    got = float_texts(pa.chunked_array([pa.array(floats)]), places).to_pylist()
    assert got == [None if v is None else f"{v:.{places}f}" for v in floats]
    ints = [None, 0, -1, 999, 1000, -1000, 10**18, 2**63 - 1]
    ints += [rng.randint(-10**12, 10**12) for _ in range(2000)]
    assert grouped_texts(pa.chunked_array([pa.array(ints, pa.int64())])).to_pylist() == [
        None if v is None else f"{v:,}" for v in ints]
    times = [None, 0, -1, NS] + [rng.randint(0, 2**62) for _ in range(500)]
    assert time_texts(pa.chunked_array([pa.array(times, pa.int64())])).to_pylist() == \
        format_ns_many(times)


def test_completion_candidates() -> None:
    """Views and columns by prefix; after `view.` that view's columns; keywords last."""
    names = {"silver_options_greeks": ["ts_event_ns", "delta"], "bronze_stocks_trades": ["price"]}
    assert word_before("select * from silver_opt", 25) == (None, "silver_opt")
    assert word_before("where silver_options_greeks.de", 30) == ("silver_options_greeks", "de")
    assert [c.text for c in candidates(None, "silver_o", names)] == ["silver_options_greeks"]
    assert [c.text for c in candidates("silver_options_greeks", "", names)] == [
        "ts_event_ns", "delta"]
    found = candidates(None, "de", names)
    assert [(c.text, c.kind) for c in found] == [("delta", "column of silver_options_greeks"),
                                                 ("DESC", "keyword"), ("DESCRIBE", "keyword")]


async def test_the_editor_highlights_sql_with_tree_sitter() -> None:
    """textual[syntax] is a dependency: the editor's SQL is parsed, keywords highlighted."""
    from textual.app import App, ComposeResult

    class EditorApp(App[None]):
        def compose(self) -> ComposeResult:
            yield SqlEditor("SELECT price FROM silver_stocks_trades -- note")

    async with EditorApp().run_test() as pilot:
        editor = pilot.app.query_one(SqlTextArea)
        line = editor.document.lines[0].encode()
        names = {line[a:b].decode(): name for a, b, name in editor._highlights[0]
                 if b is not None}
        assert names.get("SELECT") == "keyword" and names.get("FROM") == "keyword"


def test_grid_and_editor_keys_are_widget_bindings() -> None:
    """s, /, enter, y live on the result table; ctrl+up/down on the editor: not App bindings,
    not palette commands, but remappable by id like any action."""
    from textual.binding import Binding

    from lakeconsole.tui.keys import bindings, check_keymap
    from lakeconsole.tui.palette import palette_entries
    from lakeconsole.tui.widgets.results import ResultTable
    from lakeconsole.tui.widgets.sql_editor import SqlTextArea

    app_ids = {b.id for b in bindings() if isinstance(b, Binding)}
    table_ids = {b.id: b.key for b in ResultTable.BINDINGS if isinstance(b, Binding)}
    editor_ids = {b.id: b.key for b in SqlTextArea.BINDINGS if isinstance(b, Binding)}
    assert table_ids["sort"] == "s" and table_ids["filter"] == "slash"
    assert table_ids["cell_view"] == "enter" and table_ids["copy_row"] == "y"
    assert editor_ids["history_back"] == "ctrl+up" and editor_ids["complete"] == "ctrl+space"
    assert not app_ids & (set(table_ids) | set(editor_ids))
    titles = " ".join(t for t, _, _ in palette_entries(None))  # type: ignore[arg-type]
    assert "copy row" not in titles and "Run" in titles
    assert check_keymap({"sort": "o", "copy_row": "q"})[0] == {"sort": "o"}
