"""A query result as the console shows it: readable times, aligned prices, grouped sizes.

Pure functions over Arrow tables (no textual, no I/O). The console keeps the raw table for
exports and shows the one `display_table` returns; it runs in a worker thread because a
result can hold 100,000 rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.tui.columntext import (
    float_texts,
    grouped_texts,
    right_aligned,
    time_texts,
    widest,
)
from lakeconsole.tui.format import zone_label

MAX_DECIMALS = 9
DISTINCT_SHARE = 4  # format distinct values once when at most a quarter of the rows
FROZEN_WITHIN = 3  # the time column is frozen when it is among the first columns
SORT_MARKS = {False: " ▲", True: " ▼"}
# int64 nanosecond times by name: ts_event_ns, ts_recv_ns, received_ns, at_ns, and SQL
# spellings such as min(ts_event_ns) or max_ts_event_ns. Durations (latency_ns) stay numbers.
_TIME_NAME = re.compile(
    r"(?:^|[^a-z0-9_])(?:[a-z0-9]+_)*(?:ts|time|at|received|start|end)(?:_[a-z0-9]+)*_ns"
    r"(?:$|[^a-z0-9_])")
# Integer columns that are codes or counters of identity, not quantities: no separators.
_ID_NAME = re.compile(r"(?:^|_)(?:id|seq|exch|exchange|aggressor)(?:_|$)")


def is_time_column(name: str, type_: pa.DataType) -> bool:
    """Whether a column holds epoch nanoseconds (by name) or is an Arrow timestamp."""
    if pa.types.is_timestamp(type_):
        return True
    return pa.types.is_integer(type_) and _TIME_NAME.search(name.lower()) is not None


def decimals_needed(values: pa.ChunkedArray[Any] | pa.Array[Any]) -> int:
    """The fewest decimals (≤ MAX_DECIMALS) that show every float of the column exactly.

    'Exactly' allows float noise: 600.0699999999999 needs 2, like 600.07.
    """
    arr = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    for places in range(MAX_DECIMALS + 1):
        if np.all(np.abs(np.round(finite, places) - finite) <= np.abs(finite) * 1e-12):
            return places
    return MAX_DECIMALS


def column_texts(name: str, column: pa.ChunkedArray[Any],
                 local: bool = False) -> pa.Array[Any] | None:
    """The display text of one column, or None when it is shown as it is."""
    type_ = column.type
    if is_time_column(name, type_):
        if pa.types.is_timestamp(type_):
            try:  # a timestamp's int64 is UTC; beyond 2262 it does not fit in ns
                column = column.cast(pa.timestamp("ns", type_.tz)).cast(pa.int64())
            except pa.ArrowInvalid:
                return None
        return time_texts(column, local)
    if pa.types.is_floating(type_):
        places = decimals_needed(column)
        return float_texts(column, places, exact=places < MAX_DECIMALS)
    if pa.types.is_integer(type_) and _ID_NAME.search(name.lower()) is None:
        return grouped_texts(column)
    return None


def column_strings(name: str, column: pa.ChunkedArray[Any],
                   local: bool = False) -> list[str | None] | None:
    """column_texts as a list."""
    texts = column_texts(name, column, local)
    return None if texts is None else texts.to_pylist()


def display_table(table: pa.Table, local: bool = False) -> pa.Table:
    """`table` with times, floats and quantities as right-aligned strings; the rest as is.

    The names are the table's labels: a number column's is right-aligned over its values.
    """
    arrays: list[pa.Array[Any] | pa.ChunkedArray[Any]] = []
    names: list[str] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        shown = _display_column(name, column, local)
        if shown is None:
            arrays.append(column)
            names.append(name)
            continue
        texts, width = shown
        arrays.append(texts)
        names.append(name if is_time_column(name, column.type) else name.rjust(width))
    return pa.Table.from_arrays(arrays, names=names)


def _display_column(name: str, column: pa.ChunkedArray[Any],
                    local: bool) -> tuple[pa.Array[Any], int] | None:
    """The right-aligned texts of a column and their width, or None to show it as it is.

    Prices and sizes repeat (book levels, lot sizes): each distinct value is formatted once.
    """
    few: Any = None
    source = column
    numeric = pa.types.is_floating(column.type) or pa.types.is_integer(column.type)
    if numeric and not is_time_column(name, column.type) and len(column):
        encoded: Any = column.combine_chunks().dictionary_encode()
        if len(encoded.dictionary) * DISTINCT_SHARE <= len(column):
            few, source = encoded, pa.chunked_array([encoded.dictionary])
    texts = column_texts(name, source, local)
    if texts is None:
        return None
    width = max(len(name), widest(texts))
    padded = right_aligned(texts, width)
    return (padded if few is None else padded.take(few.indices)), width


@dataclass(frozen=True)
class GridOrder:
    """How the grid shows a result: sorted by one column (or not) and filtered by a text."""

    sort_column: int | None = None
    descending: bool = False
    text: str = ""

    def next_sort(self, column: int) -> GridOrder:
        """`s` on a column: ascending, then descending, then unsorted."""
        if self.sort_column != column:
            return GridOrder(column, False, self.text)
        if not self.descending:
            return GridOrder(column, True, self.text)
        return GridOrder(None, False, self.text)


@dataclass(frozen=True)
class Arranged:
    """A result as the grid shows it: `rows[i]` is the raw row of shown row i."""

    display: pa.Table
    rows: pa.Array[Any] | None  # None: every row, in the result's order
    order: GridOrder

    def raw_row(self, shown: int) -> int:
        """The raw result's row index of a shown row."""
        return shown if self.rows is None else int(self.rows[shown].as_py())


def arrange(raw: pa.Table, display: pa.Table, order: GridOrder) -> Arranged:
    """Filter (any cell contains the text, case-insensitive) then sort on the raw values.

    Sorting uses the raw column, so times and prices sort as numbers, not as text.
    """
    rows: pa.Array[Any] | None = None
    if order.text:
        rows = pc.indices_nonzero(filter_mask(raw, display, order.text))
    if order.sort_column is not None:
        key = raw.column(order.sort_column)
        if rows is not None:
            key = key.take(rows)
        ranks = _sort_indices(key, display.column(order.sort_column), rows, order.descending)
        rows = ranks if rows is None else rows.take(ranks)
    shown = display if rows is None else display.take(rows)
    return Arranged(shown.rename_columns(sort_labels(display.column_names, order)), rows, order)


def _sort_indices(key: pa.ChunkedArray[Any], text: pa.ChunkedArray[Any],
                  rows: pa.Array[Any] | None, descending: bool) -> pa.Array[Any]:
    direction: Literal["ascending", "descending"] = "descending" if descending else "ascending"
    try:
        return pc.sort_indices(key, sort_keys=[("", direction)])  # nulls last
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Lists, structs, maps: no order of their own; sort by the text shown instead.
        shown = text if rows is None else text.take(rows)
        return pc.sort_indices(pc.cast(shown, pa.string()), sort_keys=[("", direction)])


def sort_labels(names: list[str], order: GridOrder) -> list[str]:
    """Column labels with ▲ / ▼ on the sorted one.

    A right-aligned label (padded on the left) takes the mark in its padding when it fits,
    so the column keeps its width and the label stays over its numbers.
    """
    labels = list(names)
    if order.sort_column is not None:
        name = labels[order.sort_column]
        mark = SORT_MARKS[order.descending]
        padding = len(name) - len(name.lstrip(" "))
        fits = padding >= len(mark)
        labels[order.sort_column] = (name[len(mark):] + mark) if fits else name + mark
    return labels


def filter_mask(raw: pa.Table, display: pa.Table, text: str) -> pa.ChunkedArray[Any]:
    """Rows where a shown cell (or a time column's raw ns) contains `text`, ignoring case."""
    columns = list(display.columns)
    columns += [raw.column(i) for i, name in enumerate(raw.column_names)
                if is_time_column(name, raw.schema.field(i).type)]
    mask: Any = pa.chunked_array([pa.array([False] * raw.num_rows)])
    for column in columns:
        strings = _as_strings(column)
        if strings is not None:
            hit: Any = pc.match_substring(strings, text, ignore_case=True)
            mask = pc.or_(mask, hit.fill_null(False))
    result: pa.ChunkedArray[Any] = mask
    return result


def _as_strings(column: pa.ChunkedArray[Any]) -> pa.ChunkedArray[Any] | None:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return None  # not text (nested types, bytes that are not UTF-8): not searched


def frozen_columns(raw: pa.Table) -> int:
    """How many leading columns stay put when scrolling right: up to the first time column."""
    for i, field in enumerate(raw.schema):
        if i >= FROZEN_WITHIN:
            break
        if is_time_column(field.name, field.type):
            return i + 1
    return 0


def cell_detail(raw: pa.Table, row: int, column: int, local: bool = False) -> str:
    """The whole value of one raw cell, for the full-cell view.

    Times: readable and raw ns; JSON (text or UTF-8 bytes): pretty; other bytes: hex.
    """
    name = raw.column_names[column]
    type_ = raw.schema.field(column).type
    value = raw.column(column)[row].as_py()
    if value is None:
        return "null"
    if is_time_column(name, type_):
        texts = column_strings(name, raw.column(column).slice(row, 1), local)
        if texts is None:  # a timestamp beyond 2262: no ns to show
            return str(value)
        raw_ns = value if isinstance(value, int) else _timestamp_ns(raw.column(column), row)
        return f"{texts[0]} ({zone_label(local)})\n{raw_ns} ns"
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return str(value.hex(" ", 8))
    if isinstance(value, str):
        return pretty_json(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _timestamp_ns(column: pa.ChunkedArray[Any], row: int) -> int:
    cell = column.slice(row, 1)
    as_ns = cell.cast(pa.timestamp("ns", column.type.tz)).cast(pa.int64())
    return int(as_ns[0].as_py() or 0)


def pretty_json(text: str) -> str:
    """`text` indented when it is a JSON object or array, else as it is."""
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def row_text(display: pa.Table, row: int) -> str:
    """One shown row as tab-separated text (alignment padding dropped)."""
    values = [display.column(i)[row].as_py() for i in range(display.num_columns)]
    return "\t".join("" if v is None else str(v).strip() for v in values)
