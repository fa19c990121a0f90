"""Parquet encoding: ZSTD, sorted rows, the dataset's exact schema, key/value metadata."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole import __version__
from lakeconsole.contract.schemas import by_name
from lakeconsole.lake.parquet import Encoding, encode, read_metadata

TRADES = by_name("stocks.trades")
BASE = 1_704_164_400_000_000_000


def unsorted_trades() -> pa.Table:
    """Rows out of order, with ts ties broken by seq."""
    ts = [BASE + 30, BASE + 10, BASE + 20, BASE + 10, BASE + 123_456_789]
    seq = [5, 2, 4, 1, 9]
    n = len(ts)
    return pa.Table.from_pydict(
        {"ts_event_ns": ts, "ts_recv_ns": [t + 1 for t in ts], "source": ["s"] * n,
         "symbol": ["SPY"] * n, "price": [1.5] * n, "size": list(range(n)),
         "exchange": [1] * n, "seq": seq},
        schema=TRADES.schema,
    )


def test_zstd_sorted_exact_schema_and_metadata() -> None:
    data = encode(unsorted_trades(), TRADES, seq_range=(100, 140))
    pf = pq.ParquetFile(io.BytesIO(data))
    rg = pf.metadata.row_group(0)
    assert {rg.column(i).compression for i in range(rg.num_columns)} == {"ZSTD"}
    assert pf.schema_arrow.remove_metadata() == TRADES.schema.remove_metadata()
    table = pf.read()
    assert table.column("ts_event_ns").to_pylist() == [
        BASE + 10, BASE + 10, BASE + 20, BASE + 30, BASE + 123_456_789]
    assert table.column("seq").to_pylist() == [1, 2, 4, 5, 9]
    meta = read_metadata(io.BytesIO(data))
    assert meta == {
        "schema_id": "stocks.trades.v1",
        "writer_version": __version__,
        "rows": "5",
        "min_ts_event_ns": str(BASE + 10),
        "max_ts_event_ns": str(BASE + 123_456_789),
        "stream_seq_min": "100",
        "stream_seq_max": "140",
    }


def test_no_stream_range_when_not_given() -> None:
    meta = read_metadata(io.BytesIO(encode(unsorted_trades(), TRADES)))
    assert "stream_seq_min" not in meta and meta["rows"] == "5"


def test_compression_level_changes_the_bytes() -> None:
    big = pa.concat_tables([unsorted_trades()] * 2000)
    fast = encode(big, TRADES, Encoding(level=1))
    small = encode(big, TRADES, Encoding(level=19))
    assert len(small) <= len(fast)
    assert pq.read_table(io.BytesIO(small)).equals(pq.read_table(io.BytesIO(fast)))


def test_compatible_input_is_cast_to_the_schema() -> None:
    table = unsorted_trades()
    loose = table.cast(table.schema.set(5, pa.field("size", pa.int64())))
    pf = pq.ParquetFile(io.BytesIO(encode(loose, TRADES)))
    assert pf.schema_arrow.field("size").type == pa.int32()


def test_statistics_allow_row_group_pruning() -> None:
    pf = pq.ParquetFile(io.BytesIO(encode(unsorted_trades(), TRADES)))
    stats = pf.metadata.row_group(0).column(0).statistics
    assert (stats.min, stats.max) == (BASE + 10, BASE + 123_456_789)
