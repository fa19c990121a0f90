"""Parquet encoding: ZSTD, sorted rows, the dataset's exact schema, key/value metadata."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeconsole import __version__
from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.parquet import Encoding, encode, read_metadata
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import rows

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


def damage_each_column(data: bytes) -> list[bytes]:
    """One copy per column chunk with the chunk's last byte (its last page's values) flipped."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    copies = []
    for rg in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            chunk = meta.row_group(rg).column(c)
            start = chunk.dictionary_page_offset if chunk.has_dictionary_page else (
                chunk.data_page_offset)
            damaged = bytearray(data)
            damaged[start + chunk.total_compressed_size - 1] ^= 0x01
            copies.append(bytes(damaged))
    return copies


def tier_files(storage: Storage) -> dict[str, list[str]]:
    """One real file of each tier, written by the code that writes it in production."""
    base = 1_704_164_400_000_000_000
    writer = PartitionedWriter(storage)
    writer.write(TRADES, unsorted_trades())
    gold = by_name("levels.signals")
    writer.write(gold, rows(gold, {"ts_event_ns": [base, base + 5], "ts_recv_ns": [base + 1] * 2,
                                   "underlying": ["SPY"] * 2, "spot": [501.5, 501.7],
                                   "level_id": ["a", "b"], "seq": [1, 2]}))
    day = partitioning.hour_of(base)[0]
    assert SilverCompactor(storage).compact_date(day, "stocks.trades", "SPY")["status"] == "ok"
    write_records(storage, [QuarantineRecord(base, "market.x", 1, "bad json", b"{")])
    return {tier: [f.path for f in storage.files(tier)]
            for tier in ("bronze", "silver", "gold", "quarantine")}


def test_every_tier_writes_page_checksums(local_lake: Storage) -> None:
    """A flipped byte inside any column's pages fails a verified read as a CRC mismatch.

    Arrow checks a page's CRC before decompressing it, so the CRC message (rather than a
    ZSTD error, or no error at all) proves that every page of every tier carries one.
    """
    files = tier_files(local_lake)
    assert all(len(paths) == 1 for paths in files.values()), files
    for tier, (path,) in files.items():
        clean = local_lake.read_bytes(path)
        assert pq.read_table(pa.BufferReader(clean), page_checksum_verification=True)
        for damaged in damage_each_column(clean):
            with pytest.raises(OSError, match="CRC checksum verification failed"):
                pq.read_table(pa.BufferReader(damaged), page_checksum_verification=True)
        assert len(damage_each_column(clean)) >= 5, tier


def test_quarantine_files_follow_the_configured_encoding(tmp_path: Path) -> None:
    """Quarantine goes through the one writer: the `[parquet]` level given is the one used."""
    records = [QuarantineRecord(1_704_164_400_000_000_000 + i, "market.x", i, "bad json",
                                b'{"price": ' + str(i % 97).encode() * 40) for i in range(500)]
    sizes = {}
    for level in (1, 19):
        lake = Storage(str(tmp_path / f"level-{level}"))
        (path,) = write_records(lake, records, Encoding(level=level))
        data = lake.read_bytes(path)
        assert pq.read_table(io.BytesIO(data)).column("raw").to_pylist() == [r.raw for r in records]
        sizes[level] = len(data)
    assert sizes[19] < sizes[1]
