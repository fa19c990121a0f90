"""Interval arithmetic of stream sequences: union, runs, what is missing."""

from __future__ import annotations

from lakeconsole.ledger import intervals


def test_union_merges_overlapping_and_adjacent_and_drops_empty() -> None:
    got = intervals.union([(10, 12), (1, 3), (4, 5), (11, 20), (30, 30), (9, 8), (2, 2)])
    assert got == [(1, 5), (10, 20), (30, 30)]


def test_union_is_idempotent_and_order_free() -> None:
    parts = [(5, 9), (1, 2), (3, 4), (20, 25)]
    once = intervals.union(parts)
    assert intervals.union(once + parts) == once == intervals.union(reversed(parts))


def test_runs_of_a_redelivered_batch() -> None:
    assert intervals.runs([5, 3, 4, 4, 9, 10, 1]) == [(1, 1), (3, 5), (9, 10)]


def test_missing_parts_of_a_range() -> None:
    covered = [(1, 5), (10, 20), (30, 30)]
    assert intervals.missing(covered, 1, 40) == [(6, 9), (21, 29), (31, 40)]
    assert intervals.missing(covered, 3, 12) == [(6, 9)]
    assert intervals.missing(covered, 1, 5) == []
    assert intervals.missing([], 7, 9) == [(7, 9)]
    assert intervals.missing(covered, 0, 0) == [(0, 0)]


def test_count_counts_each_sequence_once() -> None:
    assert intervals.count([(1, 10), (5, 12), (20, 20)]) == 13
