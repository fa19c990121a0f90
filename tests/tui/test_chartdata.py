"""Chart data of a query result: the columns per dataset, thinning to the width, time labels."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lakeconsole.tui.chartdata import chart_data, thin, tick_labels, value_columns

START_NS = 1_767_225_600_000_000_000 + 52_200 * 10**9  # 2026-01-01 14:30:00 UTC


def trades(n: int, step_ns: int = 1_000_000, symbols: tuple[str, ...] = ("SPY",)) -> pa.Table:
    """`n` trades `step_ns` apart, cycling through `symbols`."""
    return pa.table({
        "ts_event_ns": pa.array([START_NS + i * step_ns for i in range(n)], pa.int64()),
        "ts_recv_ns": pa.array([START_NS + i * step_ns + 500 for i in range(n)], pa.int64()),
        "symbol": [symbols[i % len(symbols)] for i in range(n)],
        "price": [600.0 + (i % 50) / 100 for i in range(n)],
        "size": pa.array([100 + i % 7 for i in range(n)], pa.int32()),
        "seq": pa.array(range(n), pa.int64()),
    })


def test_columns_per_dataset() -> None:
    """Trades: price left, size right; quotes: bid/ask; Gold: spot and level price."""
    assert value_columns(trades(3), "ts_event_ns") == [("price", "left", "line"),
                                                       ("size", "right", "points")]
    quotes = pa.table({"ts_event_ns": [1], "bid_px": [1.0], "ask_px": [1.1], "bid_sz": [5],
                       "seq": [1]})
    assert [c[0] for c in value_columns(quotes, "ts_event_ns")] == ["bid_px", "ask_px"]
    gold = pa.table({"ts_event_ns": [1], "spot": [600.0], "level_price": [601.0],
                     "distance": [1.0]})
    assert [c[0] for c in value_columns(gold, "ts_event_ns")] == ["spot", "level_price"]
    other = pa.table({"bucket_ns": [1], "seq": [1], "n": [3], "avg_px": [2.5], "z": [1.0]})
    assert value_columns(other, "bucket_ns") == [("n", "left", "line"), ("avg_px", "right", "line")]


def test_a_100k_row_result_is_thinned_to_the_width_keeping_extremes() -> None:
    """100,000 rows at width 150: ≤ 2 points per cell per series, the spike kept, in order."""
    table = trades(100_000)
    prices = table.column("price").to_pylist()
    prices[54_321] = 700.0  # one spike among 100k rows
    table = table.set_column(3, "price", pa.array(prices))
    data = chart_data(table, 150)
    assert data.problem == "" and data.rows == 100_000
    price, size = data.series
    assert (price.name, price.side, size.name, size.side) == ("price", "left", "size", "right")
    assert len(price.xs) <= 300 and len(size.xs) <= 300
    assert max(price.ys) == 700.0 and min(price.ys) == 600.0
    assert price.xs == sorted(price.xs)
    assert data.points == len(price.xs) + len(size.xs)


def test_thin_keeps_short_series_whole() -> None:
    """Fewer rows than two per cell: every point stays."""
    xs, ys = np.arange(10.0), np.arange(10.0)
    out_x, out_y = thin(xs, ys, 20)
    assert out_x.tolist() == xs.tolist() and out_y.tolist() == ys.tolist()


def test_x_labels_are_wall_clock_times() -> None:
    """Ticks span the result; labels are times whose precision follows the span."""
    data = chart_data(trades(1000, step_ns=60_000_000), 100)  # 60 s
    assert data.ticks[0] == 0.0 and abs(data.ticks[-1] - 59.94) < 1e-6
    assert data.labels[0] == "14:30:00" and data.labels[-1] == "14:30:59"
    _, short = tick_labels(START_NS, 2.5, local=False)
    assert short[0] == "14:30:00.000" and short[-1] == "14:30:02.500"
    _, days = tick_labels(START_NS, 3 * 86_400, local=False)
    assert days[0] == "01-01 14:30" and days[-1] == "01-04 14:30"


def test_local_time_labels(utc_plus_3: None) -> None:
    """In local time the labels move with the zone (UTC+3 here)."""
    assert chart_data(trades(1000, step_ns=60_000_000), 100, local=True).labels[0] == "17:30:00"


def test_mixed_symbols_chart_the_most_frequent_one_and_say_so() -> None:
    """A SQL result over SPY and QQQ charts SPY (more rows) and names what it left out."""
    table = pa.concat_tables([trades(30, symbols=("SPY",)), trades(10, symbols=("QQQ",))])
    data = chart_data(table, 100)
    assert "SPY (1 other symbol not shown)" in data.title
    assert len(data.series[0].xs) == 30


def test_nothing_to_chart_says_why() -> None:
    """No time column, or no numbers: a reason instead of a chart."""
    assert "no time column" in chart_data(pa.table({"symbol": ["SPY"], "n": [1]}), 80).problem
    assert "no numeric column" in chart_data(
        pa.table({"ts_event_ns": [1], "symbol": ["SPY"]}), 80).problem


def test_nulls_and_nans_are_left_out() -> None:
    """Rows without a time, and NaN/null values, are not drawn."""
    table = pa.table({"ts_event_ns": pa.array([START_NS, None, START_NS + 2], pa.int64()),
                      "price": [1.0, 2.0, float("nan")], "size": pa.array([1, 2, None])})
    data = chart_data(table, 80)
    assert data.series[0].ys == [1.0] and data.series[1].ys == [1.0]
