"""Automatic compaction planning over real Bronze files and manifests, with a given clock."""

from __future__ import annotations

import pytest

from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import auto, layout
from lakeconsole.silver.compactor import CompactionJob, SilverCompactor
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write

DELAY_S = 600.0
S = 1_000_000_000


def hour_end(hour: int) -> int:
    """UTC ns when hour `hour` of DAY closes."""
    return DAY_NS + (hour + 1) * HOUR_NS


def bronze(storage: Storage, hour: int, n: int = 10, seq0: int = 0,
           symbol: str = "SPY") -> None:
    """`n` trades in hour `hour` of DAY."""
    ts = [DAY_NS + hour * HOUR_NS + (seq0 + i) * 1_000 for i in range(n)]
    write(storage, trade_table(symbol, ts, seq0))


def due(storage: Storage, now_ns: int) -> list[tuple[str, str]]:
    """(key, reason) of every due job."""
    return [(d.job.key, d.reason) for d in auto.due_jobs(storage, now_ns, DELAY_S)]


def compact(storage: Storage, now_ns: int) -> layout.Manifest:
    """Compact SPY's DAY, stamping the manifest as made at `now_ns`."""
    result = SilverCompactor(storage).run_job(CompactionJob("stocks.trades", "SPY", DAY))
    assert result.status == "ok", result.error
    manifest = layout.read_manifest(storage, TRADES, "SPY", DAY)
    assert manifest is not None
    # The compactor stamps the wall clock; the plan is judged against the test's clock.
    stamped = layout.Manifest(manifest.schema_id, manifest.value, manifest.date,
                              manifest.generation, manifest.files, manifest.rows,
                              manifest.bronze_fingerprint, created_ns=now_ns)
    layout.write_manifest(storage, TRADES, stamped)
    return stamped


KEY = f"stocks.trades/SPY/{DAY}"


def test_an_open_hour_waits_for_its_delay_then_is_due(local_lake: Storage) -> None:
    bronze(local_lake, 9)
    assert due(local_lake, hour_end(9) - 1) == []  # still open
    assert due(local_lake, hour_end(9) + int(DELAY_S * S) - 1) == []  # closed, settling
    assert due(local_lake, hour_end(9) + int(DELAY_S * S)) == [(KEY, "new date")]


def test_each_hour_that_settles_after_the_last_compaction_makes_the_date_due(
    local_lake: Storage,
) -> None:
    bronze(local_lake, 9)
    bronze(local_lake, 10, seq0=100)  # the hour being written when 09 settles
    settled9 = hour_end(9) + int(DELAY_S * S)
    assert due(local_lake, settled9) == [(KEY, "new date")]
    compact(local_lake, settled9 + S)
    assert due(local_lake, settled9 + 2 * S) == []  # Silver is current
    bronze(local_lake, 10, seq0=200)  # hour 10 grows: not due before it settles
    assert due(local_lake, hour_end(10)) == []
    assert due(local_lake, hour_end(10) + int(DELAY_S * S)) == [(KEY, "hour closed")]


def test_late_data_for_a_settled_date_is_due_at_once(local_lake: Storage) -> None:
    bronze(local_lake, 9)
    now = hour_end(23) + 3600 * S
    compact(local_lake, now)
    assert due(local_lake, now + S) == []
    bronze(local_lake, 9, seq0=500)  # a late file into an hour compacted long ago
    assert due(local_lake, now + 2 * S) == [(KEY, "late data")]


def test_late_data_waits_while_the_date_still_has_an_unsettled_hour(
    local_lake: Storage,
) -> None:
    bronze(local_lake, 9)
    bronze(local_lake, 10, seq0=100)
    settled9 = hour_end(9) + int(DELAY_S * S)
    compact(local_lake, settled9)
    bronze(local_lake, 9, seq0=500)  # late into 09 while 10 is still being written
    assert due(local_lake, settled9 + 60 * S) == []
    assert due(local_lake, hour_end(10) + int(DELAY_S * S)) == [(KEY, "hour closed")]


def test_plans_cover_every_partition_and_the_fingerprint(local_lake: Storage) -> None:
    bronze(local_lake, 3, symbol="SPY")
    bronze(local_lake, 3, symbol="QQQ")
    found = auto.due_jobs(local_lake, hour_end(23) + 3600 * S, DELAY_S)
    assert [d.job.key for d in found] == [f"stocks.trades/QQQ/{DAY}", KEY]
    assert all(len(d.fingerprint) == 64 for d in found)


@pytest.mark.parametrize(("hour", "delay", "expected"), [
    (0, 0.0, DAY_NS + HOUR_NS), (23, 600.0, DAY_NS + 24 * HOUR_NS + 600 * S)])
def test_settle_time(hour: int, delay: float, expected: int) -> None:
    assert auto.settle_ns(DAY, hour, delay) == expected
    assert partitioning.day_bounds(DAY)[0] == DAY_NS
