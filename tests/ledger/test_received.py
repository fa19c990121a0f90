"""The received ledger: one file per flush, hidden, readable by plain tools, merged safely."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import received
from lakeconsole.ledger.received import ReceivedView, Span


def test_spans_of_keep_the_timestamps_of_each_run_end() -> None:
    seqs = [5, 3, 4, 9, 3]  # 3 redelivered in the batch
    assert received.spans_of(seqs, "bronze", lambda i: seqs[i] * 100) == [
        Span(3, 5, "bronze", 300, 500), Span(9, 9, "bronze", 900, 900)]


def test_spans_of_nothing_and_of_one() -> None:
    assert received.spans_of([], "gold") == []
    assert received.spans_of([7], "gold") == [Span(7, 7, "gold")]


def test_merge_spans_is_a_union_per_tier() -> None:
    spans = [Span(1, 5, "bronze", 1, 5), Span(6, 8, "bronze", 6, 8), Span(4, 4, "quarantine"),
             Span(3, 7, "bronze", 3, 7), Span(20, 21, "bronze", 20, 21)]
    assert received.merge_spans(spans) == [
        Span(1, 8, "bronze", 1, 8), Span(20, 21, "bronze", 20, 21), Span(4, 4, "quarantine")]


def test_write_and_read_back_hidden_and_plain_readable(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    path = received.write_received(storage, "MARKET", [Span(1, 3, "bronze", 10, 30)])
    assert path is not None and path.startswith("_ledger/received/stream=MARKET/")
    received.write_received(storage, "MARKET", [Span(4, 6, "bronze", 40, 60)])
    assert received.write_received(storage, "MARKET", []) is None
    assert received.read_received(storage, "MARKET") == [Span(1, 6, "bronze", 10, 60)]
    assert storage.files("") == []  # `_ledger` is hidden from lake readers
    rows = duckdb.execute(f"select first_seq, last_seq, tier from read_parquet("
                          f"'{tmp_path}/_ledger/received/*/*.parquet') order by 1").fetchall()
    assert rows == [(1, 3, "bronze"), (4, 6, "bronze")]


def _write_parts(storage: Storage, n: int) -> None:
    for i in range(n):  # sequences 1..3n in files of three, plus one quarantined each
        received.write_received(storage, "S", [Span(3 * i + 1, 3 * i + 2, "gold"),
                                               Span(3 * i + 3, 3 * i + 3, "quarantine")])


def _view(storage: Storage) -> ReceivedView:
    view = ReceivedView("S")
    view.refresh(storage)
    return view


def test_merge_replaces_the_files_by_one_file_of_their_union(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    _write_parts(storage, 20)
    before = received.read_received(storage, "S")
    assert len(before) == 40  # gold and quarantine alternate: no two runs of a tier touch
    merged = received.merge(storage, _view(storage))
    assert merged is not None and merged.rsplit("/", 1)[1].startswith("merged-part-")
    assert _view(storage).paths == {merged}
    assert received.read_received(storage, "S") == before


def test_a_view_reads_only_new_files(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    _write_parts(storage, 3)
    view = ReceivedView("S")
    assert view.refresh(storage) == 3 and view.refresh(storage) == 0
    received.write_received(storage, "S", [Span(10, 12, "gold", 1, 3)])
    assert view.refresh(storage) == 1
    assert view.spans()[0] == Span(1, 2, "gold") and Span(10, 12, "gold", 1, 3) in view.spans()
    assert view.spans() == received.read_received(storage, "S")


class CrashingDelete(Storage):
    """A storage whose process 'dies' on the first delete (after the merged file is written)."""

    def delete(self, relpaths: list[str]) -> None:
        raise SystemExit("killed between the merged write and the delete")


def test_a_crash_during_merge_only_leaves_duplicates(tmp_path: Path) -> None:
    _write_parts(Storage(str(tmp_path)), 5)
    before = received.read_received(Storage(str(tmp_path)), "S")
    crashing = CrashingDelete(str(tmp_path))
    with pytest.raises(SystemExit):
        received.merge(crashing, _view(crashing))
    storage = Storage(str(tmp_path))
    assert len(_view(storage).paths) == 6  # 5 parts + the merged file
    assert received.read_received(storage, "S") == before
    received.merge(storage, _view(storage))  # the next merge heals it
    assert len(_view(storage).paths) == 1
    assert received.read_received(storage, "S") == before


def test_merges_of_two_instances_at_once_lose_nothing(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    _write_parts(storage, 4)
    first, second = _view(storage), _view(storage)  # both listed the same four files
    received.write_received(storage, "S", [Span(100, 100, "gold")])  # a flush meanwhile
    received.merge(storage, first)
    received.merge(storage, second)  # deletes the four again (gone), keeps first's file
    got = received.read_received(storage, "S")
    assert Span(100, 100, "gold") in got and len(got) == 9
    assert len(_view(storage).paths) == 3  # first's, second's merged files, the new flush


def test_start_is_recorded_once(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    assert received.read_start(storage, "S") is None
    received.write_start(storage, "S", 42)
    assert received.read_start(storage, "S") == 42


def test_write_seqs_records_runs_with_end_timestamps(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    seqs = [7, 5, 6, 9, 5, 12, 11]
    assert received.write_seqs(storage, "S", "bronze", []) is None
    received.write_seqs(storage, "S", "bronze", seqs, lambda i: seqs[i] * 10)
    assert received.read_received(storage, "S") == [
        Span(5, 7, "bronze", 50, 70), Span(9, 9, "bronze", 90, 90),
        Span(11, 12, "bronze", 110, 120)]
