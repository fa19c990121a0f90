"""Partitioning: UTC date/hour from ts_event_ns, splitting, unique file names, path parsing."""

from __future__ import annotations

import multiprocessing
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.errors import SchemaError
from lakeconsole.lake import partitioning as pt

TRADES = by_name("stocks.trades")
REPO = Path(__file__).resolve().parents[2]


def ns(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0, frac: int = 0) -> int:
    """UTC wall time to ns since the epoch, exactly."""
    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * 1_000_000_000 + frac


def trades_table(rows: list[tuple[str, int, int]]) -> pa.Table:
    """stocks.trades rows from (symbol, ts_event_ns, seq)."""
    n = len(rows)
    return pa.Table.from_pydict(
        {
            "ts_event_ns": [r[1] for r in rows], "ts_recv_ns": [r[1] + 1 for r in rows],
            "source": ["t"] * n, "symbol": [r[0] for r in rows], "price": [1.0] * n,
            "size": [1] * n, "exchange": [1] * n, "seq": [r[2] for r in rows],
        },
        schema=TRADES.schema,
    )


@pytest.mark.parametrize(
    "ts, expected",
    [
        (0, ("1970-01-01", 0)),
        (ns(2024, 1, 2, 3, 59, 59, 999_999_999), ("2024-01-02", 3)),
        (ns(2024, 1, 2, 4), ("2024-01-02", 4)),
        (ns(2024, 12, 31, 23, 59, 59, 999_999_999), ("2024-12-31", 23)),
        (ns(2025, 1, 1, 0), ("2025-01-01", 0)),
        (ns(2024, 2, 29, 12, 30), ("2024-02-29", 12)),
    ],
)
def test_hour_of_is_utc(ts: int, expected: tuple[str, int]) -> None:
    assert pt.hour_of(ts) == expected


def test_split_across_midnight_and_symbols() -> None:
    before, after = ns(2024, 1, 2, 23, 59, 59, 5), ns(2024, 1, 3, 0, 0, 0, 7)
    rows = [
        ("SPY", after + 2, 1), ("QQQ", before, 3), ("SPY", before + 9, 2), ("SPY", after, 9),
        ("SPY", before, 5), ("QQQ", after, 4), ("SPY", before, 4), ("SPY", after, 1),
        ("SPY", ns(2024, 1, 2, 22, 10), 1),
    ]
    pieces = list(pt.split(trades_table(rows), TRADES))
    keys = [p for p, _ in pieces]
    assert keys == [
        pt.Partition("QQQ", "2024-01-02", 23), pt.Partition("QQQ", "2024-01-03", 0),
        pt.Partition("SPY", "2024-01-02", 22), pt.Partition("SPY", "2024-01-02", 23),
        pt.Partition("SPY", "2024-01-03", 0),
    ]
    by_key = {p: t for p, t in pieces}
    spy23 = by_key[pt.Partition("SPY", "2024-01-02", 23)]
    assert list(zip(spy23.column("ts_event_ns").to_pylist(), spy23.column("seq").to_pylist(),
                    strict=True)) == [(before, 4), (before, 5), (before + 9, 2)]
    spy0 = by_key[pt.Partition("SPY", "2024-01-03", 0)]
    assert spy0.column("seq").to_pylist() == [1, 9, 1]
    assert spy0.column("ts_event_ns").to_pylist() == [after, after, after + 2]
    assert sum(t.num_rows for _, t in pieces) == len(rows)
    for part, table in pieces:
        assert set(table.column("symbol").to_pylist()) == {part.value}
        assert {pt.hour_of(t) for t in table.column("ts_event_ns").to_pylist()} == {
            (part.date, part.hour)}
        assert table.schema == TRADES.schema


def test_split_of_empty_table() -> None:
    assert list(pt.split(TRADES.schema.empty_table(), TRADES)) == []


def test_relpath_layout() -> None:
    part = pt.Partition("SPY", "2024-01-02", 3)
    assert part.relpath(TRADES) == "bronze/stocks/trades/symbol=SPY/date=2024-01-02/hour=03"
    assert part.relpath(TRADES, "silver").startswith("silver/stocks/trades/symbol=SPY/")
    gold = by_name("levels.signals")
    assert part.relpath(gold) == "gold/levels/signals/underlying=SPY/date=2024-01-02/hour=03"
    greeks = by_name("options.greeks")
    assert part.relpath(greeks).startswith("bronze/options/greeks_snapshots/underlying=SPY/")


def test_file_name_format() -> None:
    name = pt.new_file_name(datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=UTC))
    assert re.fullmatch(r"part-030405_000678_[0-9a-f]{14}\.parquet", name)
    assert pt.silver_file_name(7) == "part-00007.parquet"


def test_file_names_unique_in_a_tight_loop() -> None:
    fixed = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)  # same microsecond every time
    names = [pt.new_file_name(fixed) for _ in range(50_000)]
    assert len(set(names)) == len(names)
    live = [pt.new_file_name() for _ in range(20_000)]
    assert len(set(live)) == len(live)


NAMES_SCRIPT = (
    "from datetime import UTC, datetime\n"
    "from lakeconsole.lake.partitioning import new_file_name\n"
    "t = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)\n"
    "print('\\n'.join(new_file_name(t) for _ in range(20000)))\n"
)


def _names_in_child(n: int) -> list[str]:
    fixed = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    return [pt.new_file_name(fixed) for _ in range(n)]


def test_file_names_unique_across_processes() -> None:
    procs = [subprocess.Popen([sys.executable, "-c", NAMES_SCRIPT], cwd=REPO,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert [len(o) for o in outputs] == [20_000, 20_000]
    assert not set(outputs[0]) & set(outputs[1])


def test_file_names_unique_across_forked_processes() -> None:
    """Forked children share the parent's random token and counter; the pid keeps them apart."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        a, b = pool.map(_names_in_child, [10_000, 10_000])
    assert len(set(a) | set(b)) == 20_000


@pytest.mark.parametrize("value", ["SPY", "BRK/B", "ES=F", "A B", "100%", "x?y#z", "é", ".."])
def test_parse_round_trips(value: str) -> None:
    part = pt.Partition(value, "2024-01-02", 7)
    rel = f"{part.relpath(TRADES)}/{pt.new_file_name()}"
    parsed = pt.parse(rel)
    assert parsed is not None
    assert (parsed.tier, parsed.dataset_path, parsed.key) == ("bronze", "stocks/trades", "symbol")
    assert (parsed.value, parsed.date, parsed.hour) == (value, "2024-01-02", 7)
    assert rel.count("/") == 6  # the value never adds a path level


def test_odd_values_are_percent_encoded() -> None:
    assert pt.value_dir(TRADES, "BRK/B").endswith("/symbol=BRK%2FB")
    assert pt.value_dir(TRADES, "ES=F").endswith("/symbol=ES%3DF")
    assert pt.value_dir(TRADES, "A B").endswith("/symbol=A%20B")
    assert pt.value_dir(TRADES, "BRK.B-1_x+y").endswith("/symbol=BRK.B-1_x+y")


def test_parse_with_root_prefix_date_dir_and_rejects() -> None:
    parsed = pt.parse("data/lake/silver/stocks/trades/symbol=SPY/date=2024-01-02/hour=03/p.parquet")
    assert parsed is not None and (parsed.tier, parsed.value, parsed.hour) == ("silver", "SPY", 3)
    day = pt.parse("bronze/stocks/trades/symbol=SPY/date=2024-01-02")
    assert day is not None and day.hour is None
    assert pt.parse("bronze/stocks/trades/symbol=SPY") is None
    assert pt.parse("README.md") is None


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (None, None, list(range(24))),
        (ns(2024, 1, 2, 5, 30), ns(2024, 1, 2, 6, 0), [5, 6]),
        (ns(2024, 1, 2, 5), ns(2024, 1, 2, 5, 59, 59, 999_999_999), [5]),
        (ns(2024, 1, 1, 12), ns(2024, 1, 2, 1, 15), [0, 1]),
        (ns(2024, 1, 2, 22), ns(2024, 1, 5, 0), [22, 23]),
        (ns(2024, 1, 3, 0), None, []),
        (None, ns(2024, 1, 1, 23), []),
        (ns(2024, 1, 2, 9), ns(2024, 1, 2, 8), []),
    ],
)
def test_hours_in_range(start: int | None, end: int | None, expected: list[int]) -> None:
    assert pt.hours_in_range("2024-01-02", start, end) == expected


def test_day_bounds() -> None:
    lo, hi = pt.day_bounds("2024-01-02")
    assert (lo, hi) == (ns(2024, 1, 2, 0), ns(2024, 1, 3, 0))


def test_the_last_day_of_int64_ends_past_it() -> None:
    lo, hi = pt.day_bounds("2262-04-11")
    assert lo == ns(2262, 4, 11, 0) < pt.INT64_MAX < hi == lo + pt.NS_PER_DAY
    assert pt.hour_of(pt.INT64_MAX) == ("2262-04-11", 23)
    assert pt.hours_in_range("2262-04-11", None, None) == list(range(24))
    assert pt.hours_in_range("2262-04-11", ns(2262, 4, 11, 23, 30), pt.INT64_MAX) == [23]
    # numpy int64 arguments must not be narrowed against a bound past int64
    start, end = np.int64(ns(2262, 4, 11, 22)), np.int64(pt.INT64_MAX)
    assert pt.hours_in_range("2262-04-11", start, end) == [22, 23]  # type: ignore[arg-type]


def test_search_ns_with_bounds_outside_int64() -> None:
    ts = np.array([pt.INT64_MIN, -1, 0, pt.INT64_MAX - 1, pt.INT64_MAX], dtype=np.int64)
    bounds = [pt.INT64_MIN - 5, pt.INT64_MIN, 0, pt.INT64_MAX, pt.INT64_MAX + 1, 2**70]
    # Past INT64_MAX every row is below the bound, even the one equal to INT64_MAX.
    assert pt.search_ns(ts, bounds) == [0, 0, 2, 4, 5, 5]


def test_split_floors_times_before_the_epoch() -> None:
    rows = [("SPY", -1, 1), ("SPY", -pt.NS_PER_HOUR - 1, 2), ("SPY", 0, 3)]
    keys = [p for p, _ in pt.split(trades_table(rows), TRADES)]
    assert keys == [pt.Partition("SPY", "1969-12-31", 22), pt.Partition("SPY", "1969-12-31", 23),
                    pt.Partition("SPY", "1970-01-01", 0)]


def test_split_refuses_rows_without_a_time() -> None:
    table = trades_table([("SPY", 5, 1)]).set_column(
        0, "ts_event_ns", pa.array([None], pa.int64()))
    with pytest.raises(SchemaError, match="1 row"):
        list(pt.split(table, TRADES))
