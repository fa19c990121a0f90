"""Event identity and the sort-then-drop-neighbours deduplication of Bronze rows.

The contract's event id is `md5(c1|c2|…)` over the dataset's `dedup_columns`. Floats
become text as DuckDB's shortest round-trip form of the value after `x + 0.0`, which
turns -0.0 into 0.0, and every NaN becomes `nan`; NULL becomes `\\N`. So 0.1+0.2 and
0.30000000000000004 (the same double) share an id, as do -0.0 and 0.0.

Compaction never builds that string: two rows have the same id exactly when their
identifying columns are equal under DuckDB's comparison (where -0.0 = 0.0, NaN = NaN),
so it sorts by the identifying columns (ts_event_ns and seq first, which is the Silver
order) then ts_recv_ns, and keeps each row that differs from its predecessor.
Comparing raw values is also immune to a `|` inside a string column.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.contract.schemas import Dataset

LEADING = ("ts_event_ns", "seq")


def identity_columns(dataset: Dataset) -> list[str]:
    """The event-id columns, in sort order: ts_event_ns, seq, then the others."""
    rest = [c for c in dataset.dedup_columns if c not in LEADING]
    return [*LEADING, *rest]


def order_columns(dataset: Dataset) -> list[str]:
    """Silver row order: identity, then ts_recv_ns (first copy wins), then the rest."""
    ident = identity_columns(dataset)
    tail = [c for c in dataset.columns if c not in ident and c != "ts_recv_ns"]
    return [*ident, "ts_recv_ns", *tail]


def sorted_rows(con: duckdb.DuckDBPyConnection, source: str, dataset: Dataset) -> pa.Table:
    """All rows of `source` (a table name or table function) in Silver order, duplicates kept."""
    order = ", ".join(_quote(c) for c in order_columns(dataset))
    cols = ", ".join(_quote(c) for c in dataset.columns)
    table: pa.Table = con.sql(f"SELECT {cols} FROM {source} ORDER BY {order}").to_arrow_table()
    return table


def drop_repeats(table: pa.Table, dataset: Dataset) -> pa.Table:
    """Keep the first row of each run of equal identity columns (the table is sorted)."""
    if table.num_rows < 2:
        return table
    # Only a row with the same ts_event_ns and seq as its predecessor can repeat it:
    # compare the other identity columns on those few candidates only.
    lead = [table.column(c).combine_chunks() for c in LEADING]
    same = ~(_differs(lead[0][1:], lead[0][:-1]) | _differs(lead[1][1:], lead[1][:-1]))
    cand = np.flatnonzero(same) + 1
    if cand.size == 0:
        return table
    dup = np.ones(cand.size, dtype=bool)
    for name in identity_columns(dataset)[len(LEADING) :]:
        col = table.column(name)
        dup &= ~_differs(col.take(cand), col.take(cand - 1))
    keep = np.ones(table.num_rows, dtype=bool)
    keep[cand[dup]] = False
    return table.filter(pa.array(keep)) if not keep.all() else table


def _differs(cur: Any, prev: Any) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """b[i] = cur[i] is not the same value as prev[i], with NULL = NULL and NaN = NaN."""
    floating = pa.types.is_floating(cur.type)
    numeric = pa.types.is_integer(cur.type) or floating
    if numeric and cur.null_count == 0 and prev.null_count == 0:
        a, b = cur.to_numpy(), prev.to_numpy()
        ne: np.ndarray[Any, np.dtype[np.bool_]] = a != b  # IEEE: -0.0 == 0.0
        if floating:
            ne &= ~(np.isnan(a) & np.isnan(b))
        return ne
    ne = _bools(pc.fill_null(pc.not_equal(cur, prev), False))
    ne |= _bools(pc.is_null(cur)) != _bools(pc.is_null(prev))
    if floating:
        ne &= ~_bools(pc.fill_null(pc.and_(pc.is_nan(cur), pc.is_nan(prev)), False))
    return ne


def _bools(arr: Any) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
