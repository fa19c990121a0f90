"""Loss records: exact layout, one record per range, never overlapping when read."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole.lake.storage import Storage
from lakeconsole.ledger.losses import SCHEMA, Loss, read_losses, write_loss


def _loss(stream: str, first: int, last: int, cause: str = "gone") -> Loss:
    return Loss(stream, first, last, last - first + 1, 7, None, 99, cause)


def test_layout_is_plain_parquet_under_the_stream_directory(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    path = write_loss(storage, _loss("MARKET", 101, 200))
    assert path.startswith("_ledger/losses/stream=MARKET/") and path.endswith(".parquet")
    table = pq.read_table(tmp_path / path)
    assert table.schema.names == ["stream", "first_seq", "last_seq", "count", "detected_at_ns",
                                  "ts_before_ns", "ts_after_ns", "cause"]
    assert table.schema.field("ts_before_ns").type == pa.int64() == SCHEMA.field("count").type
    rows = duckdb.execute(f"select stream, first_seq, last_seq, count, ts_before_ns, ts_after_ns "
                          f"from read_parquet('{tmp_path}/_ledger/losses/*/*.parquet')").fetchall()
    assert rows == [("MARKET", 101, 200, 100, None, 99)]


def test_read_losses_sorted_by_stream_then_seq_and_filtered(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    assert read_losses(storage) == []
    for loss in (_loss("MARKET", 50, 60), _loss("LEVELS", 5, 5), _loss("MARKET", 1, 2)):
        write_loss(storage, loss)
    assert [(x.stream, x.first_seq) for x in read_losses(storage)] == [
        ("LEVELS", 5), ("MARKET", 1), ("MARKET", 50)]
    assert [x.first_seq for x in read_losses(storage, "MARKET")] == [1, 50]
    assert read_losses(storage, "OTHER") == []


def test_the_same_loss_detected_twice_is_one_record(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    write_loss(storage, _loss("S", 10, 20))
    write_loss(storage, _loss("S", 10, 20, "again"))  # another instance: same file, replaced
    assert len(read_losses(storage)) == 1


def test_overlapping_records_of_two_auditors_read_as_disjoint(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    for first, last in ((10, 20), (10, 30), (15, 18), (25, 40)):
        write_loss(storage, _loss("S", first, last))
    got = [(x.first_seq, x.last_seq, x.count) for x in read_losses(storage)]
    assert got == [(10, 30, 21), (31, 40, 10)]
