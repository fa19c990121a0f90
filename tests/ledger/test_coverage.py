"""compute_coverage: per-hour rows, duplicates, gaps, losses, late rows and status."""

from __future__ import annotations

import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.ingest.bus import DEFAULT_STREAMS
from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import coverage, feeds
from lakeconsole.ledger.coverage import STATUSES, HourCoverage, compute_coverage, loss_window
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import write as write_tier
from tests.ledger.helpers import (
    DAY,
    DAY0,
    HOUR,
    TRADES,
    at,
    loss,
    record_loss,
    trades,
    write_bronze,
)


def compact(storage: Storage, value: str = "SPY") -> None:
    result = SilverCompactor(storage).compact_date(DAY, "stocks.trades", value)
    assert result["status"] == "ok", result


def by_hour(rows: list[HourCoverage]) -> dict[int, HourCoverage]:
    return {r.hour: r for r in rows}


def test_complete_compacted_hours_with_duplicates_and_times(lake: Storage) -> None:
    table = trades(range(6), [at(9, i) for i in range(3)] + [at(10, i, 7) for i in range(3)])
    write_bronze(lake, table)
    write_bronze(lake, table.slice(0, 2))  # redelivered
    compact(lake)
    [h9, h10] = compute_coverage(lake, DAY, "stocks.trades", "SPY")
    assert (h9.hour, h9.bronze_rows, h9.silver_rows, h9.duplicates) == (9, 5, 3, 2)
    assert (h10.hour, h10.bronze_rows, h10.silver_rows, h10.duplicates) == (10, 3, 3, 0)
    assert (h9.first_ts_ns, h9.last_ts_ns) == (at(9, 0), at(9, 2))
    assert (h10.first_ts_ns, h10.last_ts_ns) == (at(10, 0, 7), at(10, 2, 7))
    assert {h.status for h in (h9, h10)} == {"complete"}
    assert (h9.feed_gaps, h9.gap_ranges, h9.lost, h9.late_rows) == (0, (), 0, 0)


def test_not_compacted_and_gaps_of_bronze_on_demand(local_lake: Storage) -> None:
    write_bronze(local_lake, trades([0, 1, 2], [at(4), at(4, 1), at(4, 2)], symbol="QQQ"))
    write_bronze(local_lake, trades([0, 1, 5], [at(4), at(4, 1), at(4, 2)], symbol="SPY"))
    rows = compute_coverage(local_lake, DAY, "stocks.trades")
    assert [(r.partition, r.status, r.feed_gaps, r.gap_ranges) for r in rows] == [
        ("QQQ", "not compacted", 0, ()), ("SPY", "gaps", 3, ((2, 4),))]
    assert rows[0].silver_rows == 0 and rows[0].bronze_rows == 3


def test_late_bronze_is_stale_until_recompacted(lake: Storage) -> None:
    write_bronze(lake, trades([0, 1], [at(9), at(9, 1)]))
    compact(lake)
    write_bronze(lake, trades([2, 3, 4], [at(9, 2), at(10), at(10, 1)]))  # after the build
    h9, h10 = by_hour(compute_coverage(lake, DAY, "stocks.trades", "SPY")).values()
    assert (h9.status, h9.late_rows, h9.bronze_rows, h9.silver_rows) == ("stale", 1, 3, 2)
    assert (h10.status, h10.late_rows, h10.silver_rows) == ("stale", 2, 0)
    assert h9.duplicates == 0  # late rows are not counted as removed duplicates
    compact(lake)
    assert {h.status for h in compute_coverage(lake, DAY, "stocks.trades", "SPY")} == \
        {"complete"}


def test_stale_without_a_ledger_record_falls_back_to_the_fingerprint(local_lake: Storage) -> None:
    """Silver built before the ledger existed: gaps from Silver, staleness from the
    fingerprint."""
    write_bronze(local_lake, trades([0, 2], [at(9), at(9, 1)]))
    compact(local_lake)
    local_lake.delete([feeds.feeds_path(TRADES, "SPY", DAY)])
    [h9] = compute_coverage(local_lake, DAY, "stocks.trades", "SPY")
    assert (h9.status, h9.gap_ranges, h9.late_rows) == ("gaps", ((1, 1),), 0)
    write_bronze(local_lake, trades([1], [at(9, 0, 5)]))
    [h9] = compute_coverage(local_lake, DAY, "stocks.trades", "SPY")
    assert h9.late_rows == 3  # all or nothing without the record of inputs
    assert h9.status == "gaps"  # the gap is still in Silver until recompaction
    compact(local_lake)
    [h9] = compute_coverage(local_lake, DAY, "stocks.trades", "SPY")
    assert (h9.status, h9.late_rows, h9.silver_rows) == ("complete", 0, 3)


def test_a_gap_across_hours_marks_every_hour_between(local_lake: Storage) -> None:
    """seq 1 at 13:59, seq 5 at 15:01: 2-4 were due in 13, 14 or 15; 14 has no rows."""
    write_bronze(local_lake, trades([0, 1, 5, 6], [at(13), at(13, 59), at(15, 1), at(15, 2)]))
    compact(local_lake)
    rows = compute_coverage(local_lake, DAY)
    assert [(r.hour, r.status, r.feed_gaps, r.gap_ranges, r.bronze_rows) for r in rows] == [
        (13, "gaps", 3, ((2, 4),), 2), (14, "gaps", 3, ((2, 4),), 0),
        (15, "gaps", 3, ((2, 4),), 2)]


def test_quiet_hours_inside_the_span_are_empty(local_lake: Storage) -> None:
    write_bronze(local_lake, trades([0, 1], [at(8), at(11)]))
    compact(local_lake)
    rows = compute_coverage(local_lake, DAY, "stocks.trades", "SPY")
    assert [(r.hour, r.status) for r in rows] == [
        (8, "complete"), (9, "empty"), (10, "empty"), (11, "complete")]


def test_losses_touch_the_hours_of_their_window(local_lake: Storage) -> None:
    for symbol in ("SPY", "QQQ"):
        write_bronze(local_lake, trades(range(4), [at(h) for h in (9, 10, 11, 12)], symbol))
    compact(local_lake)
    compact(local_lake, "QQQ")
    record_loss(local_lake, loss(100, 149, at(10, 30), at(11, 5)))  # MARKET: every symbol
    record_loss(local_lake, loss(7, 7, at(9), at(12), stream="LEVELS"))  # not this dataset
    rows = compute_coverage(local_lake, DAY, "stocks.trades")
    got = {(r.partition, r.hour): (r.status, r.lost) for r in rows}
    for symbol in ("SPY", "QQQ"):
        assert [got[(symbol, h)] for h in (9, 10, 11, 12)] == [
            ("complete", 0), ("loss", 50), ("loss", 50), ("complete", 0)]


def test_loss_windows_with_unknown_bounds() -> None:
    end = DAY0 + 24 * HOUR - 1
    assert loss_window(loss(1, 1, at(5), None)) == (at(5), end)
    assert loss_window(loss(1, 1, None, at(5))) == (DAY0, at(5))
    assert loss_window(loss(1, 1, None, None, detected=at(7))) == (DAY0, end)
    assert loss_window(loss(1, 1, at(6), at(5))) == (at(5), at(6))


def test_gold_is_covered_from_its_files(local_lake: Storage) -> None:
    gold = by_name("levels.signals")
    base = {"underlying": ["SPY"] * 3, "level_id": ["a", "b", "a"], "level_kind": ["k"] * 3,
            "level_price": [1.0] * 3, "ts_recv_ns": [at(2)] * 3, "source": ["nats"] * 3}
    from tests.factories import rows as gold_rows

    write_tier(local_lake, gold_rows(gold, {**base, "ts_event_ns": [at(2), at(2), at(2, 5)],
                                            "seq": [0, 0, 2]}), gold)
    [h2] = compute_coverage(local_lake, DAY, "levels.signals")
    assert (h2.dataset, h2.status, h2.bronze_rows, h2.silver_rows) == \
        ("levels.signals", "gaps", 3, 0)
    assert h2.gap_ranges == ((1, 1),)


def test_nothing_for_an_absent_date_and_the_legend(local_lake: Storage) -> None:
    assert compute_coverage(local_lake, DAY) == []
    assert compute_coverage(local_lake, DAY, "stocks.trades", "NOPE") == []
    assert STATUSES[0] == "loss" and STATUSES[-1] == "complete" and len(set(STATUSES)) == 6


def test_streams_match_the_ingest_defaults() -> None:
    """The core keeps its own copy of the stream names (it cannot import ingest)."""
    assert {p: n for p, n in coverage.STREAMS.items()} == DEFAULT_STREAMS


@pytest.mark.parametrize("name", ["stocks.trades", "levels.signals"])
def test_every_dataset_has_a_stream(name: str) -> None:
    assert coverage.stream_of(by_name(name)) in ("MARKET", "LEVELS")
