"""Storage on a local directory and on a real S3 API (moto): atomic writes, listing, sweeping."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lakeconsole.errors import StorageError
from lakeconsole.lake.storage import TEMP_PREFIX, Storage, is_hidden

DIR = "bronze/stocks/trades/symbol=SPY/date=2024-01-02/hour=03"


def test_write_atomic_then_read_back(lake: Storage) -> None:
    payload = os.urandom(300_000)
    lake.write_atomic(f"{DIR}/part-a.parquet", payload)
    assert lake.read_bytes(f"{DIR}/part-a.parquet") == payload
    assert [(f.path, f.size) for f in lake.files(DIR)] == [(f"{DIR}/part-a.parquet", len(payload))]
    assert lake.exists(f"{DIR}/part-a.parquet")


def test_overwrite_replaces_whole_content(lake: Storage) -> None:
    lake.write_atomic(f"{DIR}/part-a.parquet", b"old" * 1000)
    lake.write_atomic(f"{DIR}/part-a.parquet", b"new")
    assert lake.read_bytes(f"{DIR}/part-a.parquet") == b"new"
    assert [f.size for f in lake.files(DIR)] == [3]


def test_concurrent_reader_sees_whole_files_or_nothing(lake: Storage) -> None:
    payloads = {f"{DIR}/part-{i}.parquet": bytes([i]) * 1_500_000 for i in range(6)}
    seen: dict[str, int] = {}
    partial: list[str] = []
    done = threading.Event()

    def watch() -> None:
        finished = False
        while not finished:  # one last pass after the writer is done
            finished = done.is_set()
            for info in lake.files(DIR):
                data = lake.read_bytes(info.path)
                if data != payloads.get(info.path):
                    partial.append(f"{info.path}: {len(data)} bytes")
                seen[info.path] = len(data)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for path, data in payloads.items():
            lake.write_atomic(path, data)
    finally:
        done.set()
        watcher.join(timeout=60)
    watch_once_more = {f.path: f.size for f in lake.files(DIR)}
    assert watch_once_more == {p: len(d) for p, d in payloads.items()}
    assert partial == []
    assert set(seen) == set(payloads)  # the watcher really read the files


def test_local_write_leaves_no_temp_file(local_lake: Storage) -> None:
    for i in range(5):
        local_lake.write_atomic(f"{DIR}/part-{i}.parquet", b"x" * (i + 1))
    on_disk = sorted(os.listdir(Path(local_lake.root) / DIR))
    assert on_disk == [f"part-{i}.parquet" for i in range(5)]


def test_failed_local_write_leaves_nothing(local_lake: Storage) -> None:
    # The target name is an existing non-empty directory: the final rename fails.
    target = Path(local_lake.root) / DIR / "part-x.parquet"
    (target / "inner").mkdir(parents=True)
    with pytest.raises(StorageError, match="cannot write"):
        local_lake.write_atomic(f"{DIR}/part-x.parquet", b"data")
    assert sorted(os.listdir(target.parent)) == ["part-x.parquet"]  # no .tmp-* left behind


def test_crash_leftover_temp_is_hidden_and_swept(lake: Storage) -> None:
    lake.write_atomic(f"{DIR}/part-good.parquet", b"good")
    # What a writer that died between create and rename leaves behind.
    leftover = f"{DIR}/{TEMP_PREFIX}deadbeef"
    lake.fs.pipe_file(lake.full(leftover), b"partial")
    lake.fs.pipe_file(lake.full(f"{DIR}/_marker.parquet"), b"m")
    lake.invalidate()
    assert [f.path for f in lake.files(DIR)] == [f"{DIR}/part-good.parquet"]
    assert [f.path for f in lake.files(DIR, suffix="")] == [f"{DIR}/part-good.parquet"]
    assert lake.list_dir(DIR) == ["part-good.parquet"]
    assert lake.sweep_temp() == [leftover]
    lake.invalidate()
    assert not lake.exists(leftover)
    assert lake.read_bytes(f"{DIR}/part-good.parquet") == b"good"
    assert lake.sweep_temp() == []


def test_sweep_spares_recent_temp_files(local_lake: Storage) -> None:
    leftover = f"{DIR}/{TEMP_PREFIX}young"
    local_lake.write_atomic(f"{DIR}/part-0.parquet", b"x")
    local_lake.fs.pipe_file(local_lake.full(leftover), b"in flight")
    assert local_lake.sweep_temp(older_than_s=3600) == []
    assert local_lake.exists(leftover)
    old = os.path.getmtime(local_lake.full(leftover)) - 7200
    os.utime(local_lake.full(leftover), (old, old))
    assert local_lake.sweep_temp(older_than_s=3600) == [leftover]


def test_list_dir(lake: Storage) -> None:
    base = "bronze/stocks/trades/symbol=SPY/date=2024-01-02"
    for hour in (3, 1, 12):
        lake.write_atomic(f"{base}/hour={hour:02d}/part-0.parquet", b"x")
    assert lake.list_dir(base) == ["hour=01", "hour=03", "hour=12"]
    assert lake.list_dir("bronze/stocks/trades") == ["symbol=SPY"]
    assert lake.list_dir("bronze/nothing/here") == []


def test_files_is_recursive_sorted_and_filters_suffix(lake: Storage) -> None:
    base = "bronze/stocks/trades"
    paths = [f"{base}/symbol=QQQ/date=2024-01-02/hour=00/b.parquet",
             f"{base}/symbol=SPY/date=2024-01-01/hour=23/a.parquet",
             f"{base}/symbol=QQQ/date=2024-01-02/hour=00/a.parquet"]
    for p in paths:
        lake.write_atomic(p, b"abc")
    lake.write_atomic(f"{base}/symbol=SPY/notes.txt", b"n")
    assert [f.path for f in lake.files(base)] == sorted(paths)
    assert all(f.size == 3 for f in lake.files(base))
    assert [f.path for f in lake.files(base, suffix=".txt")] == [f"{base}/symbol=SPY/notes.txt"]
    assert lake.files("silver") == []


def test_delete_ignores_missing_files(lake: Storage) -> None:
    a, b = f"{DIR}/a.parquet", f"{DIR}/b.parquet"
    lake.write_atomic(a, b"a")
    lake.write_atomic(b, b"b")
    lake.delete([a, f"{DIR}/missing.parquet"])
    assert [f.path for f in lake.files(DIR)] == [b]


def test_read_missing_file(lake: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        lake.read_bytes(f"{DIR}/absent.parquet")


def test_backend_and_paths(lake: Storage) -> None:
    assert lake.backend in ("local", "s3")
    assert lake.rel(lake.full("a/b.parquet")) == "a/b.parquet"
    assert lake.is_local == (lake.backend == "local")


def test_hidden_names() -> None:
    assert is_hidden(".tmp-1") and is_hidden("a/_SUCCESS") and not is_hidden("a/part-1.parquet")


def test_rename_replaces_and_hidden_files_are_listed_on_request(lake: Storage) -> None:
    lake.write_atomic(f"{DIR}/.part-a.parquet.pending", b"new")
    lake.write_atomic(f"{DIR}/part-a.parquet", b"old")
    assert [(f.path, f.size) for f in lake.files(DIR)] == [(f"{DIR}/part-a.parquet", 3)]
    assert [f.path for f in lake.files(DIR, hidden=True)] == [
        f"{DIR}/.part-a.parquet.pending", f"{DIR}/part-a.parquet"]
    before = lake.files(DIR)[0].version
    lake.rename(f"{DIR}/.part-a.parquet.pending", f"{DIR}/part-a.parquet")
    assert lake.read_bytes(f"{DIR}/part-a.parquet") == b"new"
    (after,) = lake.files(DIR, hidden=True)
    assert (after.path, after.size) == (f"{DIR}/part-a.parquet", 3)
    assert after.version and after.version != before  # same size, new content: new version
    assert lake.files("no/such/dir", hidden=True) == []
    with pytest.raises(FileNotFoundError):
        lake.rename(f"{DIR}/.gone", f"{DIR}/part-b.parquet")
