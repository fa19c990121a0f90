"""Closed integer intervals of stream sequences: union, complement, membership."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Interval = tuple[int, int]  # (first, last), both included


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint, non-adjacent intervals covering exactly the same sequences."""
    out: list[Interval] = []
    for first, last in sorted(i for i in intervals if i[0] <= i[1]):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def runs(seqs: Iterable[int]) -> list[Interval]:
    """Consecutive runs of a set of sequences, as intervals."""
    return union((s, s) for s in seqs)


def missing(covered: Sequence[Interval], first: int, last: int) -> list[Interval]:
    """The parts of [first, last] that the (unioned) `covered` intervals leave out."""
    out: list[Interval] = []
    cursor = first
    for lo, hi in covered:
        if hi < cursor:
            continue
        if lo > last:
            break
        if lo > cursor:
            out.append((cursor, min(lo - 1, last)))
        cursor = max(cursor, hi + 1)
        if cursor > last:
            return out
    if cursor <= last:
        out.append((cursor, last))
    return out


def count(intervals: Iterable[Interval]) -> int:
    """How many sequences the intervals hold (counted once even where they overlap)."""
    return sum(hi - lo + 1 for lo, hi in union(intervals))
