"""A query result as the console shows it: readable times, aligned prices, grouped sizes.

Pure functions over Arrow tables (no textual, no I/O). The console keeps the raw table for
exports and shows the one `display_table` returns; it runs in a worker thread because a
result can hold 100,000 rows.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa

from lakeconsole.tui.format import format_ns_many

MAX_DECIMALS = 9
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


def column_strings(name: str, column: pa.ChunkedArray[Any],
                   local: bool = False) -> list[str | None] | None:
    """The display text of one column, or None when it is shown as it is."""
    type_ = column.type
    if is_time_column(name, type_):
        if pa.types.is_timestamp(type_):
            try:  # a timestamp's int64 is UTC; beyond 2262 it does not fit in ns
                column = column.cast(pa.timestamp("ns", type_.tz)).cast(pa.int64())
            except pa.ArrowInvalid:
                return None
        return format_ns_many(column.to_pylist(), local)
    if pa.types.is_floating(type_):
        places = decimals_needed(column)
        return [None if v is None else f"{v:.{places}f}" for v in column.to_pylist()]
    if pa.types.is_integer(type_) and _ID_NAME.search(name.lower()) is None:
        return [None if v is None else f"{v:,}" for v in column.to_pylist()]
    return None


def column_width(name: str, texts: list[str | None]) -> int:
    """The widest of the label and the values."""
    return max([len(name), *(len(t) for t in texts if t is not None)])


def right_align(texts: list[str | None], width: int) -> list[str | None]:
    """Pad to one width so the column reads right-aligned (nulls stay null)."""
    return [None if t is None else t.rjust(width) for t in texts]


def display_table(table: pa.Table, local: bool = False) -> pa.Table:
    """`table` with times, floats and quantities as right-aligned strings; the rest as is.

    The names are the table's labels: a number column's is right-aligned over its values.
    """
    arrays: list[pa.Array[Any] | pa.ChunkedArray[Any]] = []
    names: list[str] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        texts = column_strings(name, column, local)
        if texts is None:
            arrays.append(column)
            names.append(name)
            continue
        width = column_width(name, texts)
        arrays.append(pa.array(right_align(texts, width), pa.string()))
        names.append(name if is_time_column(name, column.type) else name.rjust(width))
    return pa.Table.from_arrays(arrays, names=names)
