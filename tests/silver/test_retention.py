"""Retention against real Bronze, real compactions and real leases, on local disk and moto S3."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import listing
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import SilverReader
from lakeconsole.silver import bronze_input, layout, retention
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.lease import Lease
from tests.conftest import s3_options
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write
from tests.faults import kill_when_paused

ROOT = Path(__file__).resolve().parents[2]
BEFORE = "2024-01-10"  # the cutoff of every test: DAY (2024-01-02) is older
YOUNG = "2024-01-10"  # the oldest date kept
YOUNG_NS = DAY_NS + 8 * 24 * HOUR_NS
KEY = f"stocks.trades/SPY/{DAY}"


def bronze(storage: Storage, symbol: str = "SPY", day_ns: int = DAY_NS, n: int = 5,
           seq0: int = 0) -> None:
    """One Bronze file of `n` trades in hour 05 of the day starting at `day_ns`."""
    write(storage, trade_table(symbol, [day_ns + 5 * HOUR_NS + seq0 + i for i in range(n)], seq0))


def compact(storage: Storage, symbol: str = "SPY", day: str = DAY) -> None:
    """A real compaction of one partition; it must succeed."""
    result = SilverCompactor(storage).compact_date(day, "stocks.trades", symbol)
    assert result["status"] == "ok", result


def bronze_paths(storage: Storage, symbol: str = "SPY", day: str = DAY) -> list[str]:
    return [f.path for f in bronze_input.list_files(storage, TRADES, symbol, day)]


def silver_rows(storage: Storage) -> pd.DataFrame:
    return SilverReader(storage).read_stock_trades("SPY", DAY)


def prune(storage: Storage, dry_run: bool = False) -> dict[str, retention.PruneResult]:
    """Prune Bronze before BEFORE; results by key."""
    return {r.key: r for r in retention.prune_bronze(storage, BEFORE, dry_run=dry_run)}


def test_cutoff_keeps_retain_days_before_today() -> None:
    assert retention.cutoff(date(2024, 1, 10), 0) is None
    assert retention.cutoff(date(2024, 1, 10), 7) == "2024-01-03"
    assert retention.cutoff(date(2024, 3, 1), 1) == "2024-02-29"


def test_old_bronze_in_silver_is_deleted_and_silver_reads_the_same(lake: Storage) -> None:
    bronze(lake)
    bronze(lake, seq0=5)
    compact(lake)
    before = silver_rows(lake)
    sizes = sum(f.size for f in bronze_input.list_files(lake, TRADES, "SPY", DAY))
    result = prune(lake)[KEY]
    assert (result.status, result.files, result.bytes) == ("deleted", 2, sizes)
    assert bronze_paths(lake) == []
    assert listing.dates(lake, TRADES, "SPY", "bronze") == []  # no empty directory left
    pd.testing.assert_frame_equal(silver_rows(lake), before)
    assert len(before) == 10
    marker = retention.read_marker(lake, TRADES, "SPY", DAY)
    assert marker is not None and marker["generation"] == 1 and len(marker["files"]) == 2
    assert SilverCompactor(lake).plan() == []  # nothing left for compaction to find
    assert prune(lake) == {}  # a second run has nothing to do


def test_old_bronze_never_compacted_is_kept(lake: Storage) -> None:
    bronze(lake)
    paths = bronze_paths(lake)
    result = prune(lake)[KEY]
    assert (result.status, result.files, result.detail) == (
        "kept-not-in-silver", 1, "never compacted")
    assert bronze_paths(lake) == paths
    # Judging takes no lease: a partition never compacted gets no Silver directory.
    assert lake.files(layout.date_dir(TRADES, "SPY", DAY), hidden=True) == []


def test_late_bronze_after_compaction_is_kept_until_compacted(lake: Storage) -> None:
    bronze(lake)
    compact(lake)
    bronze(lake, seq0=5)  # late data: Silver does not hold it yet
    paths = bronze_paths(lake)
    result = prune(lake)[KEY]
    assert (result.status, result.files) == ("kept-stale", 2)
    assert "changed since Silver generation 1" in result.detail
    assert bronze_paths(lake) == paths
    compact(lake)
    assert prune(lake)[KEY].status == "deleted"
    assert len(silver_rows(lake)) == 10


def test_young_bronze_is_kept_and_not_reported(lake: Storage) -> None:
    bronze(lake)
    bronze(lake, day_ns=YOUNG_NS)
    compact(lake)
    compact(lake, day=YOUNG)
    results = prune(lake)
    assert list(results) == [KEY]  # the cutoff date itself is kept
    assert bronze_paths(lake, day=YOUNG) != []


def test_dry_run_reports_the_same_plan_and_writes_nothing(lake: Storage) -> None:
    bronze(lake)
    compact(lake)
    bronze(lake, symbol="QQQ")
    everything = [f.path for f in lake.files("", hidden=True)]
    planned = prune(lake, dry_run=True)
    assert [f.path for f in lake.files("", hidden=True)] == everything  # no lock, no marker
    done = prune(lake)
    assert {k: r.status for k, r in planned.items()} == {
        KEY: "would-delete", f"stocks.trades/QQQ/{DAY}": "kept-not-in-silver"}
    assert {k: (r.files, r.bytes) for k, r in planned.items()} == {
        k: (r.files, r.bytes) for k, r in done.items()}
    assert done[KEY].status == "deleted"


def test_held_lease_is_busy_and_nothing_is_deleted(lake: Storage) -> None:
    bronze(lake)
    compact(lake)
    paths = bronze_paths(lake)
    lock = f"{layout.date_dir(TRADES, 'SPY', DAY)}/{layout.LOCK_NAME}"
    compaction = Lease(lake, lock, ttl_s=60)
    assert compaction.acquire() is None
    try:
        for dry_run in (True, False):
            result = prune(lake, dry_run=dry_run)[KEY]
            assert result.status == "busy" and "being compacted" in result.detail
    finally:
        compaction.release()
    assert bronze_paths(lake) == paths
    assert retention.read_marker(lake, TRADES, "SPY", DAY) is None
    assert prune(lake)[KEY].status == "deleted"


def test_lease_of_another_host_is_busy(lake: Storage) -> None:
    bronze(lake)
    compact(lake)
    lock = f"{layout.date_dir(TRADES, 'SPY', DAY)}/{layout.LOCK_NAME}"
    holder = {"owner": "x", "host": "other-host", "pid": 1, "expires_ns": 2**62}
    lake.write_atomic(lock, json.dumps(holder).encode())
    result = prune(lake)[KEY]
    assert result.status == "busy" and "pid 1 on other-host" in result.detail
    assert len(bronze_paths(lake)) == 1


def test_missing_silver_file_keeps_bronze(lake: Storage) -> None:
    bronze(lake)
    compact(lake)
    lake.delete(layout.silver_files(lake, TRADES, "SPY", DAY))
    result = prune(lake)[KEY]
    assert result.status == "kept-silver-incomplete" and "missing" in result.detail
    assert len(bronze_paths(lake)) == 1


def test_bronze_arriving_after_a_prune_is_kept_with_a_warning(lake: Storage) -> None:
    bronze(lake)
    compact(lake)
    assert prune(lake)[KEY].status == "deleted"
    bronze(lake, seq0=5)
    result = prune(lake)[KEY]
    assert result.status == "kept-stale" and "after this date was pruned" in result.detail
    assert "5 rows" in result.detail


def test_dataset_filter_prunes_only_that_dataset(lake: Storage) -> None:
    bronze(lake)
    compact(lake)
    assert retention.prune_bronze(lake, BEFORE, [by_name("stocks.quotes")], False) == []
    assert len(bronze_paths(lake)) == 1
    [result] = retention.prune_bronze(lake, BEFORE, [TRADES], False)
    assert (result.key, result.status) == (KEY, "deleted")


# -- quarantine ----------------------------------------------------------------------------


def record(received_ns: int, subject: str = "market.stocks.trades") -> QuarantineRecord:
    return QuarantineRecord(received_ns, subject, 1, "bad json", b"{")


def test_quarantine_older_than_the_cutoff_is_deleted(lake: Storage) -> None:
    old = write_records(lake, [record(DAY_NS), record(DAY_NS, "market.unknown")])
    young = write_records(lake, [record(YOUNG_NS)])
    planned = retention.prune_quarantine(lake, BEFORE, dry_run=True)
    assert [f.path for f in lake.files("quarantine")] == sorted(old + young)
    results = retention.prune_quarantine(lake, BEFORE, dry_run=False)
    assert [(r.key, r.status, r.files) for r in planned] == [
        (f"market.stocks.trades/date={DAY}", "would-delete", 1),
        (f"market.unknown/date={DAY}", "would-delete", 1)]
    assert [(r.key, r.status) for r in results] == [
        (f"market.stocks.trades/date={DAY}", "deleted"), (f"market.unknown/date={DAY}", "deleted")]
    assert [f.path for f in lake.files("quarantine")] == young
    # Only the dataset's own subject with a dataset filter.
    write_records(lake, [record(DAY_NS), record(DAY_NS, "market.unknown")])
    only = retention.prune_quarantine(lake, BEFORE, [TRADES], dry_run=False)
    assert [r.key for r in only] == [f"market.stocks.trades/date={DAY}"]


def test_moved_aside_bronze_is_kept_until_its_quarantine_time_is_old(lake: Storage) -> None:
    bronze(lake)
    [path] = bronze_paths(lake)
    bronze_input.quarantine(lake, path, "test: damaged")  # moved aside now, date= is old
    directory = f"bronze/stocks/trades/symbol=SPY/date={DAY}"
    today = retention.today_utc()
    assert retention.prune_quarantine(lake, retention.cutoff(today, 7) or "") == []
    later = retention.cutoff(date(today.year + 1, 1, 1), 7) or ""
    [result] = retention.prune_quarantine(lake, later, dry_run=False)
    assert (result.key, result.status, result.files) == (directory, "deleted", 2)
    assert lake.files("quarantine", suffix="") == []


# -- an interrupted prune ------------------------------------------------------------------

# argv: url, storage options, cutoff. Storage.delete removes one file, then the test kills us.
CHILD = """
import json, sys, time
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import retention

real = Storage.delete

def first_only(self, relpaths):
    real(self, relpaths[:1])
    print("paused", flush=True)
    time.sleep(600)

Storage.delete = first_only
storage = Storage(sys.argv[1], json.loads(sys.argv[2]))
retention.prune_bronze(storage, sys.argv[3], dry_run=False)
"""


def kill_mid_prune(storage: Storage) -> None:
    """Prune in a child process and SIGKILL it after its first Bronze file is deleted."""
    options = {} if storage.is_local else s3_options(storage.fs.endpoint_url)
    line, err = kill_when_paused(
        [sys.executable, "-c", CHILD, storage.url, json.dumps(options), BEFORE], ROOT)
    assert line == "paused", f"the child never deleted a file: {line} {err[-2000:]}"


@pytest.mark.slow
def test_a_killed_prune_is_finished_by_the_next(lake: Storage) -> None:
    for i in range(3):
        bronze(lake, seq0=5 * i)
    compact(lake)
    before = silver_rows(lake)
    kill_mid_prune(lake)
    assert len(bronze_paths(lake)) == 2  # one went before the kill
    assert retention.read_marker(lake, TRADES, "SPY", DAY) is not None
    result = prune(lake)[KEY]  # the dead process's lease is broken (same host)
    assert (result.status, result.files, result.detail) == (
        "deleted", 2, "finishing an interrupted prune")
    assert bronze_paths(lake) == []
    pd.testing.assert_frame_equal(silver_rows(lake), before)


def test_compacting_late_bronze_after_a_prune_keeps_silver_rows(local_lake: Storage) -> None:
    """Pruned events live only in Silver: a recompaction of late Bronze must keep them."""
    bronze(local_lake)
    compact(local_lake)
    assert prune(local_lake)[KEY].status == "deleted"
    bronze(local_lake, seq0=5)
    compact(local_lake)
    assert len(silver_rows(local_lake)) == 10
