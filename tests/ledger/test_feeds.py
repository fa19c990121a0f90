"""Feed seq ranges and gaps: computed from rows, recorded by compaction, replaced later."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import feeds
from lakeconsole.ledger.feeds import SeqGap, compute_feeds, read_feeds
from lakeconsole.silver import bronze_input, layout
from lakeconsole.silver.compactor import SilverCompactor
from tests.ledger.helpers import DAY, TRADES, at, trades, write_bronze


def test_islands_gaps_and_out_of_order_per_source() -> None:
    seqs = [1, 2, 3, 6, 7, 5, 10, 11]  # 4 and 8-9 missing; 5 arrives after 7 in event time
    table = trades(seqs, [at(14, i) for i in range(len(seqs))])
    other = trades([1, 2, 4], [at(15, i) for i in range(3)], source="backfill")
    [backfill, nats] = compute_feeds(pa_concat(table, other), "stocks.trades", "SPY", DAY, 7)
    assert (nats.source, nats.rows, nats.first_seq, nats.last_seq) == ("nats", 8, 1, 11)
    assert nats.ranges == ((1, 3), (5, 7), (10, 11))
    assert nats.gaps == (SeqGap(4, 4, at(14, 2), at(14, 5)), SeqGap(8, 9, at(14, 4), at(14, 6)))
    assert (nats.gap_count, nats.missing, nats.largest_gap, nats.out_of_order) == (2, 3, 2, 1)
    assert nats.generation == 7 and not nats.truncated
    assert backfill.gaps == (SeqGap(3, 3, at(15, 1), at(15, 2)),)  # its own seqs, apart


def test_repeated_seqs_and_unsorted_input() -> None:
    """Duplicates (a redelivery) are no gap; rows in any order give the same answer."""
    seqs, times = [3, 1, 2, 2, 5], [at(1, 3), at(1, 1), at(1, 2), at(1, 2), at(1, 5)]
    [feed] = compute_feeds(trades(seqs, times), "stocks.trades", "SPY", DAY)
    assert feed.gaps == (SeqGap(4, 4, at(1, 3), at(1, 5)),)
    assert (feed.rows, feed.out_of_order, feed.ranges) == (5, 0, ((1, 3), (5, 5)))


def test_extreme_seqs_do_not_overflow() -> None:
    lo, hi = -(2**63), 2**63 - 1
    [feed] = compute_feeds(trades([lo, 0, hi], [at(1), at(2), at(3)]), "stocks.trades", "X", DAY)
    assert [(g.first, g.last) for g in feed.gaps] == [(lo + 1, -1), (1, hi - 1)]
    assert feed.missing == 2**63 - 1  # clamped: the true count does not fit an int64
    assert feed.largest_gap == 2**63 - 1


def test_many_gaps_are_truncated_with_exact_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feeds, "MAX_SEGMENTS", 3)
    seqs = list(range(0, 20, 2))  # every odd seq missing: 9 gaps
    [feed] = compute_feeds(trades(seqs, [at(2, i) for i in range(10)]), "stocks.trades", "X", DAY)
    assert [g.first for g in feed.gaps] == [1, 3, 5] and feed.ranges == ((0, 0), (2, 2), (4, 4))
    assert (feed.gap_count, feed.missing, feed.truncated) == (9, 9, True)


def test_compaction_records_the_feeds_and_recompaction_replaces_them(lake: Storage) -> None:
    """Seqs 5-6 and 9 skipped, a redelivered file: exact gaps, then filled by late Bronze."""
    seqs = [0, 1, 2, 3, 4, 7, 8, 10, 11]
    table = trades(seqs, [at(14, s) for s in seqs])
    write_bronze(lake, table)
    write_bronze(lake, table.slice(0, 4))  # redelivered: duplicates, no new seqs
    result = SilverCompactor(lake).compact_date(DAY, "stocks.trades", "SPY")
    assert (result["status"], result["duplicates_removed"]) == ("ok", 4)
    assert result["feed_gap_seqs"] == 3  # what the metrics show: 5, 6 and 9
    record = read_feeds(lake, TRADES, "SPY", DAY)
    assert record is not None and record.generation == result["generation"] == 1
    [feed] = record.feeds
    assert [(g.first, g.last) for g in feed.gaps] == [(5, 6), (9, 9)]
    assert (feed.rows, feed.missing, feed.largest_gap, feed.out_of_order) == (9, 3, 2, 0)
    inputs = bronze_input.list_files(lake, TRADES, "SPY", DAY)
    assert record.bronze_inputs == {f.path: f.version for f in inputs}
    path = "_ledger/feeds/stocks/trades/symbol=SPY/date=2024-03-01/feeds.parquet"
    assert feeds.feeds_path(TRADES, "SPY", DAY) == path and lake.exists(path)

    write_bronze(lake, trades([5, 6, 9], [at(14, s) for s in (5, 6, 9)]))
    again = SilverCompactor(lake).compact_date(DAY, "stocks.trades", "SPY")
    record = read_feeds(lake, TRADES, "SPY", DAY)
    assert record is not None and record.generation == again["generation"] == 2
    assert record.feeds[0].gaps == () and record.feeds[0].ranges == ((0, 11),)
    assert again["feed_gap_seqs"] == 0
    assert len(record.bronze_inputs) == 3
    manifest = layout.read_manifest(lake, TRADES, "SPY", DAY)
    assert manifest is not None and manifest.generation == 2


def test_a_failed_ledger_write_leaves_compaction_ok(
    local_lake: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record is best effort: Silver is switched already and stays right."""
    write_bronze(local_lake, trades([0, 2], [at(3), at(4)]))

    def broken(*args: object, **kwargs: object) -> str:
        raise OSError("disk full")

    monkeypatch.setattr(feeds, "write_feeds", broken)
    result = SilverCompactor(local_lake).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok" and result["silver_rows"] == 2
    assert result["feed_gap_seqs"] is None  # not recorded: unknown, not zero
    assert read_feeds(local_lake, TRADES, "SPY", DAY) is None


def pa_concat(*tables: pa.Table) -> pa.Table:
    return pa.concat_tables(tables)
