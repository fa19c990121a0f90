"""Damaged Bronze never becomes wrong Silver: it is quarantined, or it reads exactly right.

Real files written by the ingest writer, real byte flips, real compactions. Page CRCs
cover data pages; the checks of `parquet.read_verified` (exact schema, rows and ts range
against the footer's metadata) cover page headers and the footer, which CRCs do not.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeconsole.errors import CorruptFileError
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.parquet import read_verified
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import bronze_input, layout
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.params import CompactionParams
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table

H13 = DAY_NS + 13 * HOUR_NS
POSITIONS = 70  # flip positions spread over the whole damaged file, magic to magic


def flip(data: bytes, offset: int, width: int = 4) -> bytes:
    """`data` with `width` bytes from `offset` inverted (clamped at the end)."""
    out = bytearray(data)
    for i in range(offset, min(offset + width, len(out))):
        out[i] ^= 0xFF
    return bytes(out)


def write_two_files(storage: Storage) -> tuple[str, str]:
    """Two Bronze files of one partition and hour: 40 rows (the victim) and 20 others."""
    writer = PartitionedWriter(storage)
    (victim,) = writer.write(TRADES, trade_table("SPY", [H13 + i * 1_000_003 for i in range(40)]),
                             list(range(1, 41)))
    (other,) = writer.write(
        TRADES, trade_table("SPY", [H13 + 500_000 + i * 777 for i in range(20)], seq0=1000),
        list(range(41, 61)))
    return victim.path, other.path


def compact(storage: Storage) -> dict[str, object]:
    """One compaction of the partition, as the CLI runs it."""
    return SilverCompactor(storage, CompactionParams(threads=1)).compact_date(
        DAY, "stocks.trades", "SPY")


def silver_rows(storage: Storage) -> pa.Table:
    """The current Silver generation's rows, in file order, without file metadata."""
    paths = layout.silver_files(storage, TRADES, "SPY", DAY)
    tables = [pq.read_table(io.BytesIO(storage.read_bytes(p))) for p in paths]
    return pa.concat_tables(tables).replace_schema_metadata(None)


def expected_silver(tmp_path: Path, victim: bytes | None, other: bytes) -> pa.Table:
    """Silver compacted from clean copies of the files (the victim may be left out)."""
    lake = Storage(str(tmp_path / f"expected-{victim is None}"))
    base = partitioning.date_dir(TRADES, "SPY", DAY, "bronze")
    for name, data in (("a", victim), ("b", other)):
        if data is not None:
            lake.write_atomic(f"{base}/hour=13/part-{name}.parquet", data)
    assert compact(lake)["status"] == "ok"
    return silver_rows(lake)


def positions(size: int) -> list[int]:
    """Offsets every size/POSITIONS bytes, plus the footer length and closing magic."""
    step = max(1, size // POSITIONS)
    return sorted({*range(0, size, step), size - 8, size - 4, size - 1})


def test_flipped_bytes_anywhere_quarantine_or_read_exactly(
    local_lake: Storage, tmp_path: Path
) -> None:
    victim, other = write_two_files(local_lake)
    clean, other_bytes = local_lake.read_bytes(victim), local_lake.read_bytes(other)
    whole = expected_silver(tmp_path, clean, other_bytes)
    without_victim = expected_silver(tmp_path, None, other_bytes)
    assert whole.num_rows == 60 and without_victim.num_rows == 20
    outcomes = {"quarantined": 0, "exact": 0}
    for offset in positions(len(clean)):
        lake = Storage(shutil.copytree(local_lake.root, tmp_path / f"at-{offset}"))
        lake.write_atomic(victim, flip(clean, offset))
        result = compact(lake)
        assert result["status"] == "ok", (offset, result["error"])
        moved = [q["path"] for q in result["quarantined"]]  # type: ignore[attr-defined]
        if moved:
            assert moved == [victim], offset
            assert lake.read_bytes(f"quarantine/{victim}.bad") == flip(clean, offset)
            assert silver_rows(lake).equals(without_victim), offset
            outcomes["quarantined"] += 1
        else:
            assert silver_rows(lake).equals(whole), offset
            outcomes["exact"] += 1
    # Both outcomes happen: the flips did reach bytes that matter and bytes that do not.
    assert outcomes["quarantined"] >= POSITIONS // 2 and outcomes["exact"] >= 1, outcomes


def test_every_single_byte_flip_is_caught_or_harmless(local_lake: Storage) -> None:
    """Exhaustive at the reader: every byte of a file inverted, one at a time."""
    victim, _ = write_two_files(local_lake)
    clean = local_lake.read_bytes(victim)
    good = read_verified(clean, TRADES)
    caught = 0
    for offset in range(len(clean)):
        try:
            got = read_verified(flip(clean, offset, width=1), TRADES)
        except CorruptFileError:
            caught += 1
            continue
        assert got.equals(good), offset
    assert caught > len(clean) // 2


@pytest.mark.slow
def test_every_single_bit_flip_is_caught_or_harmless(local_lake: Storage) -> None:
    """Every bit of every byte (~35k reads): some footer bits silently drop rows unless
    the row count is checked against the metadata; whole-byte flips never hit them."""
    victim, _ = write_two_files(local_lake)
    clean = local_lake.read_bytes(victim)
    good = read_verified(clean, TRADES)
    for offset in range(len(clean)):
        for bit in range(8):
            damaged = bytearray(clean)
            damaged[offset] ^= 1 << bit
            try:
                got = read_verified(bytes(damaged), TRADES)
            except CorruptFileError:
                continue
            assert got.equals(good), (offset, bit)


def test_a_flipped_data_page_is_quarantined_with_its_reason(lake: Storage) -> None:
    victim, _ = write_two_files(lake)
    data = lake.read_bytes(victim)
    lake.write_atomic(victim, flip(data, last_byte_of_column(data, "price"), width=1))
    result = compact(lake)
    assert result["status"] == "ok" and result["rows_written"] == 20
    (q,) = result["quarantined"]  # type: ignore[misc]
    assert q["path"] == victim and "CRC" in q["reason"]
    assert not lake.exists(victim) and lake.exists(q["moved_to"])


def test_a_flipped_page_header_is_caught_by_the_data_crc(local_lake: Storage) -> None:
    """Page CRCs do not cover page headers. In a chunk whose dictionary overflowed (a
    dictionary page, then PLAIN pages), one bit turns a page's encoding from PLAIN (0)
    into RLE_DICTIONARY (8) or PLAIN_DICTIONARY (2): on some pages the doubles decode as
    indices into the dictionary, i.e. real-looking wrong prices, and no error."""
    n = 300_000  # random prices: the 1 MiB dictionary overflows after 131,072 of them
    rng = np.random.default_rng(1)
    rows = trade_table("SPY", np.sort(H13 + rng.integers(0, HOUR_NS // 2, n)).tolist())
    rows = rows.set_column(4, "price", pa.array(rng.normal(500, 5, n)))
    (written,) = PartitionedWriter(local_lake).write(TRADES, rows)
    clean = local_lake.read_bytes(written.path)
    chunk = pq.ParquetFile(pa.BufferReader(clean)).metadata.row_group(0).column(4)  # price
    assert chunk.has_dictionary_page and "PLAIN" in chunk.encodings
    start = chunk.dictionary_page_offset
    body = clean[start : start + chunk.total_compressed_size]
    # A data page header's encoding fields: PLAIN values, RLE def levels, RLE rep levels.
    headers = [start + m.start() for m in re.finditer(b"\x15\x00\x15\x06\x15\x06", body)]
    silently_wrong = 0
    for header, mask in itertools.product(headers, (0x04, 0x10)):
        damaged = bytearray(clean)
        damaged[header + 1] ^= mask
        with pytest.raises(CorruptFileError, match="data CRC mismatch"):
            read_verified(bytes(damaged), TRADES)
        with contextlib.suppress(OSError, pa.ArrowException):
            crc_only = pq.read_table(pa.BufferReader(bytes(damaged)),
                                     page_checksum_verification=True)
            silently_wrong += crc_only.column("price") != rows.column("price")
    assert len(headers) >= 4 and silently_wrong >= 1  # the gap is real in this very file


def test_rows_that_contradict_the_footer_metadata_are_refused() -> None:
    """What CRCs cannot see: the footer's own row count and ts range are checked."""
    table = trade_table("SPY", [H13 + i for i in range(10)])
    meta = {**(TRADES.schema.metadata or {}), b"lakeconsole.rows": b"11",
            b"lakeconsole.min_ts_event_ns": str(H13).encode(),
            b"lakeconsole.max_ts_event_ns": str(H13 + 9).encode()}
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), sink)
    with pytest.raises(CorruptFileError, match="rows '10' \\(recorded '11'\\)"):
        read_verified(sink.getvalue(), TRADES)


def test_another_writers_file_is_cast_only_when_every_value_fits(local_lake: Storage) -> None:
    """No lakeconsole metadata: int32 for the int16 `exchange` is fine, 70000 is not."""
    victim, _ = write_two_files(local_lake)
    base = victim.rsplit("/", 1)[0]
    for name, exchange in (("fits", 7), ("overflows", 70_000)):
        table = trade_table("SPY", [H13 + 9_999_999], seq0=5000 + exchange)
        table = table.set_column(6, "exchange", pa.array([exchange], pa.int32()))
        pq.write_table(table.replace_schema_metadata(None),
                       local_lake.full(f"{base}/part-{name}.parquet"))
    result = compact(local_lake)
    assert result["rows_written"] == 61
    (q,) = result["quarantined"]  # type: ignore[misc]
    assert q["path"].endswith("part-overflows.parquet") and "schema mismatch" in q["reason"]
    assert 7 in silver_rows(local_lake).column("exchange").to_pylist()


def test_a_same_size_rewrite_is_not_unchanged(lake: Storage) -> None:
    victim, _ = write_two_files(lake)
    assert compact(lake)["status"] == "ok"
    assert compact(lake)["unchanged"]
    data = lake.read_bytes(victim)
    lake.write_atomic(victim, flip(data, last_byte_of_column(data, "price"), width=1))
    assert len(lake.read_bytes(victim)) == len(data)
    again = compact(lake)
    assert not again["unchanged"] and again["generation"] == 2
    assert [q["path"] for q in again["quarantined"]] == [victim]  # type: ignore[attr-defined]


def test_an_in_place_write_is_seen_locally(local_lake: Storage) -> None:
    """Same inode, same size, new content: the mtime in the listing changes."""
    victim, _ = write_two_files(local_lake)
    before = bronze_input.fingerprint(
        bronze_input.list_files(local_lake, TRADES, "SPY", DAY))
    path = Path(local_lake.full(victim))
    inode, size, mtime = path.stat().st_ino, path.stat().st_size, path.stat().st_mtime_ns
    with path.open("r+b") as fh:
        fh.seek(size // 2)
        fh.write(bytes([fh.read(1)[0] ^ 0xFF]))
    stat = path.stat()
    if stat.st_mtime_ns == mtime:  # a coarse filesystem clock: the listing cannot tell
        pytest.skip("mtime did not move on this filesystem")
    assert (stat.st_ino, stat.st_size) == (inode, size)
    after = bronze_input.fingerprint(bronze_input.list_files(local_lake, TRADES, "SPY", DAY))
    assert after != before


def last_byte_of_column(data: bytes, column: str) -> int:
    """Offset of a column chunk's last byte: inside its last data page's values."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    chunk = meta.column(TRADES.schema.get_field_index(column))
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    return int(start + chunk.total_compressed_size - 1)
