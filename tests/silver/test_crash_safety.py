"""Crashed and failed compactions: a plain glob of Silver reads what the readers read.

A compaction runs in a child process that the test starts with the real switch step
wrapped in a long sleep (nothing in lakeconsole knows about it) and kills with SIGKILL;
a full disk is a real tmpfs mounted for the test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import SilverReader
from lakeconsole.silver import layout
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.params import CompactionParams
from tests.conftest import s3_options
from tests.faults import kill_when_paused

ROOT = Path(__file__).resolve().parents[2]
DAY = "2024-03-01"
H13 = partitioning.day_bounds(DAY)[0] + 13 * partitioning.NS_PER_HOUR
TRADES = by_name("stocks.trades")
SMALL_FILES = 3_000  # target bytes: a few Silver files per generation

# argv: url, storage options, date, layout function to pause, before|after it, force|-
CHILD = """
import json, sys, time
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.params import CompactionParams

url, options, day, name, when, force = sys.argv[1:7]
real = getattr(layout, name)

def paused(*args, **kwargs):
    if when == "after":
        real(*args, **kwargs)
    print("paused", flush=True)
    time.sleep(600)  # the test kills us here
    if when == "before":
        real(*args, **kwargs)

setattr(layout, name, paused)
compactor = SilverCompactor(Storage(url, json.loads(options)), CompactionParams(
    target_file_bytes=int(sys.argv[7])))
print(compactor.compact_date(day, "stocks.trades", "SPY", force=force == "force"), flush=True)
"""


def write_trades(storage: Storage, seqs: range) -> None:
    """Bronze trades with seq (and time) from `seqs`."""
    rows = [{"ts_event_ns": H13 + i * 1000, "ts_recv_ns": H13 + i * 1000 + 5, "source": "nats",
             "symbol": "SPY", "price": 500.0 + i, "size": i + 1, "exchange": 1, "seq": i}
            for i in seqs]
    PartitionedWriter(storage).write(TRADES, pa.Table.from_pylist(rows, schema=TRADES.schema))


def compact(storage: Storage, force: bool = False) -> dict[str, Any]:
    """One compaction of the test partition, in this process."""
    params = CompactionParams(target_file_bytes=SMALL_FILES)
    return SilverCompactor(storage, params).compact_date(DAY, "stocks.trades", "SPY", force)


def kill_at(storage: Storage, name: str, when: str, force: bool = False) -> None:
    """Compact in a child process and SIGKILL it `when` (before/after) it calls layout.`name`."""
    options = {} if storage.is_local else s3_options(storage.fs.endpoint_url)
    line, err = kill_when_paused(
        [sys.executable, "-c", CHILD, storage.url, json.dumps(options), DAY, name, when,
         "force" if force else "-", str(SMALL_FILES)], ROOT)
    assert line == "paused", f"the child never reached {name}: {line} {err[-2000:]}"


def glob_rows(storage: Storage) -> int:
    """Rows a plain `read_parquet('<root>/silver/**/*.parquet')` sees: no manifest involved."""
    pattern = f"{storage.root}/silver/**/*.parquet"
    if storage.is_local:
        with duckdb.connect() as con:
            found = con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchone()
            if not found or not found[0]:
                return 0  # read_parquet refuses a glob that matches nothing
            rows = con.execute("SELECT count(*) FROM read_parquet(?)", [pattern]).fetchone()
            return int(rows[0]) if rows else 0
    # DuckDB has no httpfs offline: the same glob through s3fs, rows from each footer.
    storage.fs.invalidate_cache()  # all of it: s3fs keeps each directory's listing
    total = 0
    for path in storage.fs.glob(pattern):
        with storage.fs.open(path) as fh:
            total += pq.read_metadata(fh).num_rows
    return total


def reader_rows(storage: Storage) -> int:
    """Rows the Silver reader returns (through the manifest)."""
    return len(SilverReader(storage).read_stock_trades("SPY", DAY))


def leftovers(storage: Storage) -> list[str]:
    """Hidden pending and temp files below the Silver date directory."""
    base = layout.date_dir(TRADES, "SPY", DAY)
    return [f.path for f in storage.files(base, hidden=True)
            if f.path.endswith(layout.PENDING_SUFFIX) or "/.tmp-" in f.path]


def assert_tidy(storage: Storage, rows: int) -> None:
    """Glob == reader == `rows`; on storage exactly the manifest's files, nothing pending."""
    assert glob_rows(storage) == reader_rows(storage) == rows
    base = layout.date_dir(TRADES, "SPY", DAY)
    on_storage = [f.path for f in storage.files(base, hidden=True) if f.path.endswith(".parquet")]
    assert on_storage == sorted(layout.silver_files(storage, TRADES, "SPY", DAY))
    assert leftovers(storage) == []


@pytest.mark.slow
def test_kill_before_first_switch_leaves_nothing_visible(lake: Storage) -> None:
    write_trades(lake, range(100))
    kill_at(lake, "switch", "before")
    assert leftovers(lake)  # the whole generation was written, under hidden names
    assert layout.read_manifest(lake, TRADES, "SPY", DAY) is None
    assert glob_rows(lake) == reader_rows(lake) == 0
    rerun = compact(lake)
    assert (rerun["status"], rerun["rows_written"], rerun["generation"]) == ("ok", 100, 1)
    assert_tidy(lake, 100)


# (layout function, before/after it) → rows a glob sees after the kill, rerun unchanged?
KILL_POINTS = {
    "written, not renamed": ("switch", "before", 100, False),
    "renamed, manifest not switched": ("write_manifest", "before", 250, False),
    "switched, old files not deleted": ("write_manifest", "after", 250, True),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_during_recompaction_then_rerun(lake: Storage, point: str) -> None:
    name, when, glob_after_kill, unchanged = KILL_POINTS[point]
    write_trades(lake, range(100))
    assert compact(lake)["files_written"] > 1
    old = layout.silver_files(lake, TRADES, "SPY", DAY)
    write_trades(lake, range(100, 150))
    kill_at(lake, name, when)
    switched = when == "after"
    assert (layout.silver_files(lake, TRADES, "SPY", DAY) == old) is not switched
    assert reader_rows(lake) == (150 if switched else 100)
    # Only inside the switch itself (ms locally) does a glob see more than the reader.
    assert glob_rows(lake) == glob_after_kill
    rerun = compact(lake)
    assert rerun["status"] == "ok" and bool(rerun["unchanged"]) is unchanged
    assert_tidy(lake, 150)


@pytest.mark.slow
def test_unchanged_rerun_removes_a_killed_forced_run(lake: Storage) -> None:
    write_trades(lake, range(100))
    compact(lake)
    kill_at(lake, "switch", "before", force=True)
    assert leftovers(lake)
    assert glob_rows(lake) == reader_rows(lake) == 100
    rerun = compact(lake)
    assert rerun["status"] == "ok" and rerun["unchanged"]  # Bronze is what gen 1 was built from
    assert_tidy(lake, 100)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, mounted for the test (CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """A file taking all of `disk`'s free space but `leave` bytes."""
    stat = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, stat.f_bavail * stat.f_frsize - leave)
    return filler


@pytest.mark.slow
def test_disk_full_mid_compaction_removes_what_it_wrote(tiny_disk: Path) -> None:
    lake = Storage(str(tiny_disk / "lake"))
    write_trades(lake, range(3000))
    first = compact(lake)
    assert first["status"] == "ok"
    old = layout.silver_files(lake, TRADES, "SPY", DAY)
    write_trades(lake, range(3000, 6000))
    # Room for the lease and about half of the new generation (twice the old one's size).
    filler = fill(tiny_disk, leave=first["bytes_written"] + 16 * 4096)
    failed = compact(lake)
    assert failed["status"] == "failed" and "No space left" in failed["error"]
    # The error names the first file (in order) that failed: its predecessors were written.
    failed_at = re.search(r"\.part-(\d+)\.parquet", failed["error"])
    assert failed_at and int(failed_at.group(1)) > len(old), failed["error"]
    assert layout.silver_files(lake, TRADES, "SPY", DAY) == old
    assert_tidy(lake, 3000)
    filler.unlink()
    rerun = compact(lake)
    assert (rerun["status"], rerun["rows_written"]) == ("ok", 6000)
    assert_tidy(lake, 6000)
