"""Compaction at the ends of int64 nanoseconds: 2262-04-11 (near INT64_MAX) and 1970-01-01.

Ingest will refuse such dates by default, but Bronze written before that, or written
directly, must still compact without losing an hour.
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.errors import CompactionError, StorageError
from lakeconsole.lake import partitioning as pt
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import SilverReader
from lakeconsole.silver import layout
from lakeconsole.silver.chunks import hour_bounds
from lakeconsole.silver.compactor import SilverCompactor

TRADES = by_name("stocks.trades")
LAST_DAY = "2262-04-11"  # INT64_MAX ns is 2262-04-11T23:47:16.854775807Z
LAST_START = pt.day_bounds(LAST_DAY)[0]
H = pt.NS_PER_HOUR


def trades(ts: list[int]) -> pa.Table:
    """One SPY trade per timestamp; ts_recv_ns equals ts_event_ns (no room above INT64_MAX)."""
    return pa.Table.from_pylist(
        [{"ts_event_ns": t, "ts_recv_ns": t, "source": "direct", "symbol": "SPY",
          "price": 1.0, "size": 1, "exchange": 1, "seq": i} for i, t in enumerate(ts)],
        schema=TRADES.schema)


def compact(storage: Storage, day: str) -> dict[str, Any]:
    """Compact SPY trades of `day`."""
    return SilverCompactor(storage).compact_date(day, "stocks.trades", "SPY")


def footer_rows(storage: Storage, day: str) -> dict[str, int]:
    """Rows of each current Silver file, from the file itself."""
    return {p.rsplit("/", 2)[-2]: pq.read_metadata(io.BytesIO(storage.read_bytes(p))).num_rows
            for p in layout.silver_files(storage, TRADES, "SPY", day)}


def test_hour_bounds_keep_the_last_hour_of_int64() -> None:
    ts = [LAST_START, LAST_START + 22 * H, LAST_START + 23 * H, pt.INT64_MAX - 1, pt.INT64_MAX]
    assert hour_bounds(trades(ts), LAST_DAY) == {0: (0, 1), 22: (1, 2), 23: (2, 5)}


def test_hour_bounds_at_the_epoch() -> None:
    ts = [0, 1, H - 1, H, 24 * H - 1]
    assert hour_bounds(trades(ts), "1970-01-01") == {0: (0, 3), 1: (3, 4), 23: (4, 5)}


def test_rows_up_to_int64_max_are_all_compacted(lake: Storage) -> None:
    ts = [LAST_START, LAST_START + 22 * H + 5, LAST_START + 23 * H,
          pt.INT64_MAX - 1_000, pt.INT64_MAX]
    PartitionedWriter(lake).write(TRADES, trades(ts))
    result = compact(lake, LAST_DAY)
    assert (result["status"], result["rows_written"], result["rows_outside_date"]) == ("ok", 5, 0)
    manifest = layout.read_manifest(lake, TRADES, "SPY", LAST_DAY)
    assert manifest is not None and manifest.rows == 5
    assert footer_rows(lake, LAST_DAY) == {"hour=00": 1, "hour=22": 1, "hour=23": 3}
    assert {f.path.split("/")[0]: f.rows for f in manifest.files} == footer_rows(lake, LAST_DAY)
    read = SilverReader(lake).read_stock_trades("SPY", LAST_DAY)
    assert read["ts_event_ns"].tolist() == ts
    late = SilverReader(lake).read_stock_trades("SPY", LAST_DAY, start_ns=LAST_START + 23 * H,
                                                end_ns=pt.INT64_MAX)
    assert len(late) == 3


def test_the_epoch_and_the_instant_before_it(lake: Storage) -> None:
    ts = [-1, 0, 1, H - 1, 23 * H + 7]
    PartitionedWriter(lake).write(TRADES, trades(ts))
    epoch = compact(lake, "1970-01-01")
    assert (epoch["rows_written"], epoch["rows_outside_date"]) == (4, 0)
    assert footer_rows(lake, "1970-01-01") == {"hour=00": 3, "hour=23": 1}
    # -1 ns is 1969-12-31 23:59:59.999999999: filed, and compacted, under that day.
    before = compact(lake, "1969-12-31")
    assert (before["status"], before["rows_written"]) == ("ok", 1)
    assert footer_rows(lake, "1969-12-31") == {"hour=23": 1}


def test_a_manifest_cannot_claim_rows_its_files_do_not_hold(local_lake: Storage) -> None:
    part = layout.SilverFile("hour=23/part-00000.parquet", 1, 100)
    with pytest.raises(CompactionError, match="claims 4 rows but its files hold 1"):
        layout.Manifest("stocks.trades.v1", "SPY", LAST_DAY, 1, (part,), 4, "fp")
    good = layout.Manifest("stocks.trades.v1", "SPY", LAST_DAY, 1, (part,), 1, "fp")
    tampered = good.to_bytes().replace(b'"rows": 1,\n "schema_id"', b'"rows": 4,\n "schema_id"')
    assert tampered != good.to_bytes()
    local_lake.write_atomic(layout.manifest_path(TRADES, "SPY", LAST_DAY), tampered)
    with pytest.raises(StorageError, match="unreadable Silver manifest"):
        layout.read_manifest(local_lake, TRADES, "SPY", LAST_DAY)
