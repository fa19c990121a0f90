"""Time travel over Silver and Gold tables: real compaction and sync, real Parquet and catalog."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakeconsole.config import Settings
from lakeconsole.errors import QueryError
from lakeconsole.iceberg.history import SnapshotEntry, history
from lakeconsole.iceberg.silver import SilverTables
from lakeconsole.iceberg.sync import sync
from lakeconsole.iceberg.time_travel import read_as_of
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import GoldReader, SilverReader
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write
from tests.iceberg.helpers import GOLD, flush, settings_for, ts

NEXT_DAY = "2024-01-03"


@dataclass
class TwoCommits:
    """A lake whose SPY date was compacted twice: the rows the reader saw after each."""

    storage: Storage
    settings: Settings
    silver: SilverTables
    first: SnapshotEntry
    second: SnapshotEntry
    old: pa.Table
    new: pa.Table


def reader(storage: Storage, value: str = "SPY", day: str = DAY,
           start_ns: int | None = None, end_ns: int | None = None) -> pa.Table:
    return SilverReader(storage).read_arrow("silver", TRADES, value, day, start_ns, end_ns)


def committed_later(compactor: SilverCompactor, last_ms: int) -> None:
    """Compact SPY's date once the clock has left `last_ms`: a time strictly between."""
    while time.time() * 1000 < last_ms + 2:
        time.sleep(0.002)
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> TwoCommits:
    """SPY compacted, late SPY rows compacted again; QQQ and SPY's next day beside them."""
    # Built once for the module: the tests only read it.
    settings = settings_for(tmp_path_factory.mktemp("time-travel") / "lake")
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, settings)
    silver = SilverTables(storage, settings)
    # Other partitions and dates in the same table: the read must leave them out.
    write(storage, trade_table("QQQ", ts(13, 25)))
    write(storage, trade_table("SPY", [DAY_NS + 24 * HOUR_NS + i for i in range(7)]))
    assert compactor.compact_date(DAY, "stocks.trades", "QQQ")["status"] == "ok"
    assert compactor.compact_date(NEXT_DAY, "stocks.trades", "SPY")["status"] == "ok"
    write(storage, trade_table("SPY", ts(13, 40) + ts(14, 20)))
    committed_later(compactor, history(silver, TRADES)[0].committed_ms)
    old = reader(storage)
    (first, *_) = history(silver, TRADES)
    # Late data between the first rows: the second generation interleaves them.
    write(storage, trade_table("SPY", ts(13, 10, offset=500), seq0=1000))
    committed_later(compactor, first.committed_ms)
    (second, *_) = history(silver, TRADES)
    return TwoCommits(storage, settings, silver, first, second, old, reader(storage))


def test_as_of_the_first_snapshot_reads_what_the_reader_read_then(lake: TwoCommits) -> None:
    assert lake.second.current and lake.second.parent_id == lake.first.snapshot_id
    assert (lake.old.num_rows, lake.new.num_rows) == (60, 70)
    got = read_as_of(lake.silver, TRADES, "SPY", DAY, snapshot_id=lake.first.snapshot_id)
    assert got.schema == lake.old.schema  # the dataset's types, no metadata
    assert got.equals(lake.old)
    now = read_as_of(lake.silver, TRADES, "SPY", DAY, snapshot_id=lake.second.snapshot_id)
    assert now.equals(lake.new)  # sorted by ts_event_ns, seq like the reader


def test_as_of_a_time_reads_the_snapshot_current_then(lake: TwoCommits) -> None:
    between = lake.second.committed_ms * 1_000_000 - 1  # 1 ns before the second commit
    assert between // 1_000_000 > lake.first.committed_ms
    got = read_as_of(lake.silver, TRADES, "SPY", DAY, as_of_ns=between)
    assert got.equals(lake.old)
    at_second = read_as_of(lake.silver, TRADES, "SPY", DAY,
                           as_of_ns=lake.second.committed_ms * 1_000_000)
    assert at_second.equals(lake.new)


def test_as_of_keeps_the_from_to_range_of_the_reader(lake: TwoCommits) -> None:
    start, end = DAY_NS + 13 * HOUR_NS + 5_000, DAY_NS + 14 * HOUR_NS + 3_000
    got = read_as_of(lake.silver, TRADES, "SPY", DAY, snapshot_id=lake.first.snapshot_id,
                     start_ns=start, end_ns=end)
    want = lake.old.filter(pc.and_(
        pc.greater_equal(lake.old["ts_event_ns"], start),
        pc.less_equal(lake.old["ts_event_ns"], end)))
    assert got.num_rows == 39 and got.equals(want)
    next_day = read_as_of(lake.silver, TRADES, "SPY", NEXT_DAY,
                          snapshot_id=lake.second.snapshot_id)
    assert next_day.equals(reader(lake.storage, day=NEXT_DAY))


def test_a_time_before_the_first_snapshot_or_an_unknown_id_is_a_clear_error(
    lake: TwoCommits,
) -> None:
    (oldest, *_) = sorted(e.committed_ms for e in history(lake.silver, TRADES))
    with pytest.raises(QueryError, match=r"no live snapshot of silver\.stocks_trades was "
                                         r"current at .* UTC; the oldest is from .* UTC"):
        read_as_of(lake.silver, TRADES, "SPY", DAY, as_of_ns=oldest * 1_000_000 - 1)
    with pytest.raises(QueryError, match=r"no live snapshot 12345 in silver\.stocks_trades"):
        read_as_of(lake.silver, TRADES, "SPY", DAY, snapshot_id=12345)
    with pytest.raises(QueryError, match="a snapshot id or a time"):
        read_as_of(lake.silver, TRADES, "SPY", DAY)


def test_a_table_without_snapshots_says_so(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "lake")
    silver = SilverTables(Storage.from_settings(settings.storage), settings)
    with pytest.raises(QueryError, match="has no snapshot yet"):
        read_as_of(silver, TRADES, "SPY", DAY, as_of_ns=DAY_NS)


def gold_rows(storage: Storage, day: str = DAY) -> pa.Table:
    return GoldReader(storage).read_arrow("gold", GOLD.name, "SPY", day)


def test_gold_as_of_an_earlier_sync_reads_the_gold_reader_rows_of_then(tmp_path: Path) -> None:
    """Gold's table is appended by sync: as of the first sync, the later flush is absent."""
    settings = settings_for(tmp_path / "lake")
    storage = Storage.from_settings(settings.storage)
    silver = SilverTables(storage, settings)
    flush(storage, 5, DAY_NS + 13 * HOUR_NS)
    assert [r.status for r in sync(storage, settings, [GOLD])] == ["committed"]
    old = gold_rows(storage)
    (first,) = history(silver, GOLD)
    while time.time() * 1000 < first.committed_ms + 2:  # a time strictly between commits
        time.sleep(0.002)
    flush(storage, 3, DAY_NS + 14 * HOUR_NS)
    flush(storage, 2, DAY_NS + 24 * HOUR_NS)  # the next day: left out of DAY's reads
    assert [r.status for r in sync(storage, settings, [GOLD])] == ["committed"] * 2
    # One commit per date: DAY's is the child of the first, NEXT_DAY's the current one.
    [day_sync] = [e for e in history(silver, GOLD) if e.parent_id == first.snapshot_id]
    [current] = [e for e in history(silver, GOLD) if e.current]

    got = read_as_of(silver, GOLD, "SPY", DAY, snapshot_id=first.snapshot_id)
    assert got.schema == old.schema and got.equals(old) and got.num_rows == 10
    between = read_as_of(silver, GOLD, "SPY", DAY, as_of_ns=day_sync.committed_ms * 10**6 - 1)
    assert between.equals(old)
    now = read_as_of(silver, GOLD, "SPY", DAY, snapshot_id=current.snapshot_id)
    assert now.equals(gold_rows(storage)) and now.num_rows == 16
    start = DAY_NS + 13 * HOUR_NS + 2
    late = read_as_of(silver, GOLD, "SPY", DAY, snapshot_id=first.snapshot_id, start_ns=start)
    assert late.num_rows == 6  # signals 2 to 4
    assert late.equals(old.filter(pc.greater_equal(old["ts_event_ns"], start)))
    next_day = read_as_of(silver, GOLD, "SPY", NEXT_DAY, snapshot_id=current.snapshot_id)
    assert next_day.equals(gold_rows(storage, NEXT_DAY)) and next_day.num_rows == 4
