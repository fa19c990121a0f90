"""What a query result's chart shows: which columns, thinned to the plot width, time labels.

Pure functions over Arrow tables (no textual, no I/O). A result holds up to 100,000 rows; a
terminal plot is ~150 cells wide, so each series is cut into one bucket per cell and keeps
each bucket's lowest and highest point: spikes survive, the shape is exact at that width.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.tui.format import NS_PER_S, wall_clock
from lakeconsole.tui.tableview import is_time_column

Side = Literal["left", "right"]
TIME_PREFERENCE = ("ts_event_ns", "ts_recv_ns")
KEY_COLUMNS = ("symbol", "option_symbol", "underlying")
TICKS = 5
# Column sets by name, first match wins: trades, quotes, the MBP-10 top of book, Gold
# levels, option greeks. (column, axis side, line or points)
RULES: tuple[tuple[tuple[str, Side, str], ...], ...] = (
    (("price", "left", "line"), ("size", "right", "points")),
    (("bid_px", "left", "line"), ("ask_px", "left", "line")),
    (("bid_px_1", "left", "line"), ("ask_px_1", "left", "line")),
    (("spot", "left", "line"), ("level_price", "left", "points")),
    (("implied_vol", "left", "line"), ("delta", "right", "line")),
)


@dataclass(frozen=True)
class Series:
    """One plotted column: x in seconds after the chart's start, y as floats."""

    name: str
    xs: list[float]
    ys: list[float]
    side: Side = "left"
    style: str = "line"  # line | points


@dataclass(frozen=True)
class ChartData:
    """Everything the chart widget draws; `problem` says why there is nothing to draw."""

    title: str = ""
    series: tuple[Series, ...] = ()
    ticks: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    time_column: str = ""
    rows: int = 0
    points: int = 0
    problem: str = ""


def time_column(table: pa.Table) -> str | None:
    """The column to put on the x axis: ts_event_ns, else the first time column."""
    names = [f.name for f in table.schema if is_time_column(f.name, f.type)]
    for preferred in TIME_PREFERENCE:
        if preferred in names:
            return preferred
    return names[0] if names else None


def value_columns(table: pa.Table, time_name: str) -> list[tuple[str, Side, str]]:
    """The columns to plot (name, side, style): a known set, else the first two numbers."""
    present = set(table.column_names)
    for rule in RULES:
        if rule[0][0] in present:
            return [c for c in rule if c[0] in present]
    numeric = [f.name for f in table.schema
               if (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
               and f.name != time_name and not is_time_column(f.name, f.type)
               and f.name != "seq" and not f.name.endswith(("_id", "exch", "exchange"))]
    sides: tuple[Side, Side] = ("left", "right")
    return [(name, sides[i], "line") for i, name in enumerate(numeric[:2])]


def epoch_ns(column: pa.ChunkedArray[Any]) -> np.ndarray[Any, Any]:
    """A time column as int64 epoch nanoseconds (nulls dropped by the caller's mask)."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ns", column.type.tz)).cast(pa.int64())
    filled = column.fill_null(pa.scalar(0, pa.int64()))
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.int64)


def floats(column: pa.ChunkedArray[Any]) -> np.ndarray[Any, Any]:
    """A numeric column as float64 with NaN for nulls."""
    return np.asarray(column.cast(pa.float64()).fill_null(pa.scalar(np.nan)).to_numpy(
        zero_copy_only=False), dtype=np.float64)


def thin(xs: np.ndarray[Any, Any], ys: np.ndarray[Any, Any],
         buckets: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """At most 2 points per bucket of equal row count: each bucket's min and max, in order."""
    n = len(xs)
    if n <= 2 * buckets:
        return xs, ys
    keep: list[int] = []
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    for start, end in itertools.pairwise(edges):
        if end <= start:
            continue
        part = ys[start:end]
        low, high = start + int(np.argmin(part)), start + int(np.argmax(part))
        keep.extend(sorted({low, high}))
    index = np.asarray(keep, dtype=np.int64)
    return xs[index], ys[index]


def tick_labels(start_ns: int, span_s: float, local: bool,
                count: int = TICKS) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """`count` evenly spaced ticks over the span, labelled as wall-clock times.

    The precision follows the span: dates over a day, seconds over 10 s, else milliseconds.
    """
    if span_s <= 0:
        count, span_s = 1, 0.0
    ticks = tuple(span_s * i / max(count - 1, 1) for i in range(count))
    labels = []
    for tick in ticks:
        ns = start_ns + round(tick * NS_PER_S)
        seconds, frac = divmod(ns, NS_PER_S)
        moment = wall_clock(seconds, local)
        if span_s >= 86_400:
            labels.append(f"{moment:%m-%d %H:%M}")
        elif span_s >= 10:
            labels.append(f"{moment:%H:%M:%S}")
        else:
            labels.append(f"{moment:%H:%M:%S}.{frac // 1_000_000:03d}")
    return ticks, tuple(labels)


def _one_key(table: pa.Table) -> tuple[pa.Table, str]:
    """Rows of the most frequent symbol when the result mixes several; the note says so."""
    for key in KEY_COLUMNS:
        if key not in table.column_names or not pa.types.is_string(table.schema.field(key).type):
            continue
        counts = Counter(v for v in table.column(key).to_pylist() if v is not None)
        if len(counts) <= 1:
            return table, next(iter(counts), "")
        value, _ = counts.most_common(1)[0]
        others = len(counts) - 1
        note = f"{value} ({others} other {key}{'s' if others != 1 else ''} not shown)"
        return table.filter(pc.equal(table.column(key), value)), note
    return table, ""


def chart_data(table: pa.Table, width: int, local: bool = False) -> ChartData:
    """The chart of a query result at `width` cells: series over time, ticks, labels."""
    time_name = time_column(table)
    if time_name is None:
        return ChartData(rows=table.num_rows,
                         problem="nothing to chart: the result has no time column "
                                 "(e.g. ts_event_ns)")
    columns = value_columns(table, time_name)
    if not columns:
        return ChartData(rows=table.num_rows, time_column=time_name,
                         problem="nothing to chart: the result has no numeric column")
    rows = table.num_rows
    table, key_note = _one_key(table.filter(pc.is_valid(table.column(time_name))))
    if table.num_rows == 0:
        return ChartData(rows=rows, time_column=time_name,
                         problem="nothing to chart: no rows with a time")
    ns = epoch_ns(table.column(time_name))
    order = np.argsort(ns, kind="stable")
    ns = ns[order]
    start = int(ns[0])
    xs = (ns - start).astype(np.float64) / NS_PER_S  # relative: a float keeps µs precision
    series = []
    for name, side, style in columns:
        ys = floats(table.column(name))[order]
        ok = np.isfinite(ys)
        sx, sy = thin(xs[ok], ys[ok], max(width, 1))
        series.append(Series(name, sx.tolist(), sy.tolist(), side, style))
    ticks, labels = tick_labels(start, float(xs[-1]), local)
    title = " and ".join(name for name, _, _ in columns) + f" over {time_name}"
    if key_note:
        title += f" · {key_note}"
    return ChartData(title, tuple(series), ticks, labels, time_name, rows,
                     sum(len(s.xs) for s in series))
