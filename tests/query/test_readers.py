"""Readers, local and on S3: the API of docs/design.md §7, exact ns, pruning, filters."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.local import LocalFileSystem

from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import by_name
from lakeconsole.errors import SchemaError
from lakeconsole.lake import listing
from lakeconsole.lake.parquet import read_metadata
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import BronzeReader, GoldReader, LakeReader
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, rows, trade_table, write

EXACT = DAY_NS + 3 * HOUR_NS + 123_456_789  # 2024-01-02T03:00:00.123456789Z


def test_read_stock_trades_keeps_exact_nanoseconds(lake: Storage) -> None:
    ts = [EXACT, EXACT + 1, EXACT + 999_999_999_999]
    write(lake, trade_table("SPY", ts), TRADES)
    df = BronzeReader(lake).read_stock_trades("SPY", DAY)
    assert list(df.columns) == TRADES.columns
    assert df["ts_event_ns"].dtype == "int64" and df["seq"].dtype == "int64"
    assert df["ts_event_ns"].tolist() == ts
    assert df["ts_recv_ns"].tolist() == [t + 1_000 for t in ts]
    assert df["size"].dtype == "int32" and df["exchange"].dtype == "int16"
    assert df["price"].tolist() == [100.0, 100.01, 100.02]


def test_missing_partition_is_an_empty_frame_with_columns(lake: Storage) -> None:
    reader = BronzeReader(lake)
    df = reader.read_stock_trades("NOPE", DAY)
    assert df.empty and list(df.columns) == TRADES.columns
    assert reader.last_scan.files == []
    mbp = reader.read_futures_mbp10("ESH4", DAY)
    assert mbp.empty and list(mbp.columns) == by_name("futures.mbp10").columns
    proj = reader.read("bronze", "stocks.trades", "NOPE", DAY, columns=["seq", "price"])
    assert list(proj.columns) == ["seq", "price"]


def test_time_filter_is_inclusive_and_exact(lake: Storage) -> None:
    ts = [EXACT + i * 1_000 for i in range(10)]
    write(lake, trade_table("SPY", ts), TRADES)
    df = BronzeReader(lake).read_stock_trades("SPY", DAY, start_ns=ts[2], end_ns=ts[5])
    assert df["ts_event_ns"].tolist() == ts[2:6]
    assert BronzeReader(lake).read_stock_trades("SPY", DAY, start_ns=ts[9] + 1).empty
    assert BronzeReader(lake).read_stock_trades("SPY", DAY, end_ns=ts[0])["seq"].tolist() == [0]


def test_rows_sorted_across_files_of_one_hour(lake: Storage) -> None:
    write(lake, trade_table("SPY", [EXACT + 500, EXACT + 900], seq0=10), TRADES)
    # an earlier and a later row in a second file
    write(lake, trade_table("SPY", [EXACT + 100, EXACT + 500], seq0=0), TRADES)
    reader = BronzeReader(lake)
    df = reader.read_stock_trades("SPY", DAY)
    assert len(reader.last_scan.files) == 2
    assert list(zip(df["ts_event_ns"], df["seq"], strict=True)) == [
        (EXACT + 100, 0), (EXACT + 500, 1), (EXACT + 500, 10), (EXACT + 900, 11)]


def test_columns_projection_and_errors(lake: Storage) -> None:
    write(lake, trade_table("SPY", [EXACT + 2, EXACT + 1]), TRADES)
    reader = LakeReader(lake)
    df = reader.read("bronze", "stocks.trades", "SPY", DAY, columns=["price", "ts_event_ns"])
    assert list(df.columns) == ["price", "ts_event_ns"]
    assert df["ts_event_ns"].tolist() == [EXACT + 1, EXACT + 2]
    only_price = reader.read("bronze", "stocks.trades", "SPY", DAY, columns=["size"])
    assert list(only_price.columns) == ["size"] and only_price["size"].tolist() == [2, 1]
    with pytest.raises(SchemaError, match=r"unknown column.*bogus"):
        reader.read("bronze", "stocks.trades", "SPY", DAY, columns=["bogus"])
    with pytest.raises(SchemaError, match="not stored in the gold tier"):
        reader.read("gold", "stocks.trades", "SPY", DAY)
    with pytest.raises(SchemaError, match="unknown tier"):
        reader.read("platinum", "stocks.trades", "SPY", DAY)
    with pytest.raises(SchemaError, match="unknown dataset"):
        reader.read("bronze", "stocks.trade", "SPY", DAY)


def test_read_futures_mbp10(lake: Storage) -> None:
    mbp = by_name("futures.mbp10")
    cols: dict[str, list[Any]] = {
        "ts_event_ns": [EXACT, EXACT + 7], "ts_recv_ns": [EXACT, EXACT + 8],
        "source": ["cme", "cme"], "symbol": ["ESH4", "ESH4"], "is_snapshot": [True, False],
        "seq": [1, 2],
    }
    for i in range(1, 11):
        cols |= {f"bid_px_{i}": [4800.0 - i] * 2, f"bid_sz_{i}": [i] * 2,
                 f"ask_px_{i}": [4800.0 + i] * 2, f"ask_sz_{i}": [i * 10] * 2}
    write(lake, rows(mbp, cols), mbp)
    df = BronzeReader(lake).read_futures_mbp10("ESH4", DAY, start_ns=EXACT + 1)
    assert df["ts_event_ns"].tolist() == [EXACT + 7]
    assert df["is_snapshot"].tolist() == [False]
    assert (df["bid_px_10"].iloc[0], df["ask_sz_10"].iloc[0]) == (4790.0, 100)


def test_read_level_signals(lake: Storage) -> None:
    gold = by_name("levels.signals")
    decoder = GoldDecoder(gold)
    payload = {
        "ts_event_ns": EXACT, "underlying": "SPY", "spot": 470.0, "bid": 469.9, "ask": 470.1,
        "levels": [
            {"id": "L0", "kind": "put_wall", "price": 465.0, "barrier": {"state": "thick"}},
            {"id": "L1", "kind": "call_wall", "price": 475.0, "tape": {"sweep_detected": True},
             "runway": {"next_level_price": 480.0}},
        ],
    }
    out = decoder.decode(json.dumps(payload).encode())
    write(lake, decoder.to_table(out.events, EXACT + 50), gold)
    df = GoldReader(lake).read_level_signals("SPY", DAY)
    assert list(df.columns) == gold.columns
    assert df["level_id"].tolist() == ["L0", "L1"]
    assert df["ts_event_ns"].tolist() == [EXACT, EXACT]
    assert df["ts_recv_ns"].tolist() == [EXACT + 50, EXACT + 50]
    assert df["barrier_state"].tolist()[0] == "thick"
    assert df["runway_next_level_price"].tolist()[1] == 480.0
    assert bool(df["tape_sweep_detected"].iloc[1]) is True
    assert GoldReader(lake).read_level_signals("SPY", DAY, end_ns=EXACT - 1).empty


def test_get_available_dates(lake: Storage) -> None:
    write(lake, trade_table("SPY", [DAY_NS, DAY_NS + 30 * 3600 * 10**9]), TRADES)  # 01-02, 01-03
    write(lake, trade_table("QQQ", [DAY_NS - 1]), TRADES)  # 2024-01-01
    reader = BronzeReader(lake)
    assert reader.get_available_dates("stocks/trades") == ["2024-01-01", "2024-01-02",
                                                           "2024-01-03"]
    assert reader.get_available_dates("stocks/trades", "symbol=SPY") == ["2024-01-02",
                                                                         "2024-01-03"]
    assert reader.get_available_dates("stocks/trades", "QQQ") == ["2024-01-01"]
    assert reader.get_available_dates("stocks/trades", "symbol=IWM") == []
    assert reader.get_available_dates("futures/mbp10") == []
    assert sorted(listing.values(reader.storage, TRADES, "bronze")) == ["QQQ", "SPY"]


def test_odd_partition_value_round_trips(lake: Storage) -> None:
    write(lake, trade_table("BRK/B", [EXACT]), TRADES)
    reader = BronzeReader(lake)
    assert reader.read_stock_trades("BRK/B", DAY)["symbol"].tolist() == ["BRK/B"]
    assert listing.values(reader.storage, TRADES, "bronze") == ["BRK/B"]
    assert reader.get_available_dates("stocks/trades", "symbol=BRK/B") == [DAY]


def test_written_files_carry_metadata(lake: Storage) -> None:
    files = write(lake, trade_table("SPY", [EXACT + 5, EXACT]), TRADES)
    assert len(files) == 1
    meta = read_metadata(lake.open(files[0].path))
    assert meta["rows"] == "2" and meta["schema_id"] == "stocks.trades.v1"
    assert (meta["min_ts_event_ns"], meta["max_ts_event_ns"]) == (str(EXACT), str(EXACT + 5))
    with lake.open(files[0].path) as fh:
        pf = pq.ParquetFile(fh)
        assert pf.metadata.row_group(0).column(0).compression == "ZSTD"


# --- pruning: a one-hour range opens only that hour's files ------------------------------


def _write_day(lake: Storage) -> dict[int, list[str]]:
    """24 hours of SPY trades, two files per hour; returns the files of each hour."""
    by_hour: dict[int, list[str]] = {}
    for batch in range(2):
        ts = [DAY_NS + h * HOUR_NS + batch * 45 * 60 * 10**9 + k for h in range(24) for k in (0, 1)]
        for f in write(lake, trade_table("SPY", ts, seq0=batch * 100), TRADES):
            by_hour.setdefault(f.partition.hour, []).append(f.path)
    assert sorted(by_hour) == list(range(24))
    return by_hour


def test_one_hour_range_plans_only_that_hour(lake: Storage) -> None:
    by_hour = _write_day(lake)
    reader = BronzeReader(lake)
    start = DAY_NS + 7 * HOUR_NS
    df = reader.read_stock_trades("SPY", DAY, start_ns=start, end_ns=start + HOUR_NS - 1)
    assert sorted(reader.last_scan.files) == sorted(by_hour[7])
    assert len(df) == 4 and set(df["ts_event_ns"] // HOUR_NS) == {start // HOUR_NS}
    full = reader.read_stock_trades("SPY", DAY)
    assert len(reader.last_scan.files) == 48 and len(full) == 96


class SpyLocalFileSystem(LocalFileSystem):
    """The real local filesystem, recording every file it opens."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened: list[str] = []

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        self.opened.append(self._strip_protocol(path))
        return super()._open(path, mode, *args, **kwargs)


def test_one_hour_range_opens_only_that_hour_on_disk(local_lake: Storage) -> None:
    by_hour = _write_day(local_lake)
    spy = SpyLocalFileSystem(skip_instance_cache=True)
    local_lake.fs = spy
    reader = BronzeReader(local_lake)
    start = DAY_NS + 13 * HOUR_NS + 30 * 60 * 10**9  # 13:30 .. 13:59:59.999999999
    df = reader.read_stock_trades("SPY", DAY, start_ns=start, end_ns=DAY_NS + 14 * HOUR_NS - 1)
    expected = {local_lake.full(p) for p in by_hour[13]}
    assert spy.opened, "the spy saw no opens: pyarrow did not go through the fsspec filesystem"
    assert set(spy.opened) == expected
    assert all("/hour=13/" in p for p in spy.opened)
    assert df["seq"].tolist() == [126, 127]  # only the second batch is after 13:30
    spy.opened.clear()
    reader.read_stock_trades("SPY", DAY)
    assert len(set(spy.opened)) == 48  # without a range every hour is opened: the spy works


def test_read_returns_pandas(lake: Storage) -> None:
    write(lake, trade_table("SPY", [EXACT]), TRADES)
    assert isinstance(LakeReader(lake).read("bronze", TRADES, "SPY", DAY), pd.DataFrame)
