"""Received ranges: which stream sequences reached the lake (Bronze, Gold or quarantine).

One small file per flush, written after the flush's data files are durable and before its
messages are acked: `{root}/_ledger/received/stream={STREAM}/part-….parquet`. `merge`
replaces many files by one holding their union: the merged file is written before the
files it covers are deleted, so a crash in between only leaves duplicates, and the union
of duplicates is the same set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import store

KIND = "received"
START_KIND = "start"
MERGED_PREFIX = "merged-"
NO_TS = np.iinfo(np.int64).min  # a missing timestamp inside the numpy arrays
SCHEMA = pa.schema(
    [  # type: ignore[arg-type]  # the stubs cannot unify the DataType subclasses
        pa.field("stream", pa.string(), nullable=False),
        pa.field("first_seq", pa.int64(), nullable=False),
        pa.field("last_seq", pa.int64(), nullable=False),
        pa.field("tier", pa.string(), nullable=False),
        pa.field("first_ts_ns", pa.int64()),  # NATS timestamp of first_seq, when known
        pa.field("last_ts_ns", pa.int64()),  # NATS timestamp of last_seq, when known
        pa.field("written_at_ns", pa.int64(), nullable=False),
    ],
    metadata={b"lakeconsole.schema_id": b"ledger_received.v1"},
)
START_SCHEMA = pa.schema(
    [  # type: ignore[arg-type]
        pa.field("stream", pa.string(), nullable=False),
        pa.field("first_seq", pa.int64(), nullable=False),
        pa.field("recorded_at_ns", pa.int64(), nullable=False),
    ],
    metadata={b"lakeconsole.schema_id": b"ledger_start.v1"},
)
Array = np.ndarray[Any, np.dtype[np.int64]]
Columns = tuple[Array, Array, Array, Array]  # first_seq, last_seq, first_ts, last_ts


class Span(NamedTuple):
    """Sequences first_seq..last_seq of a stream, all received into one tier."""

    first_seq: int
    last_seq: int
    tier: str
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None


def runs(seqs: Sequence[int]) -> tuple[Array, Array, Array]:
    """Consecutive runs of `seqs` (repeats allowed, any order): their starts and ends.

    The third array holds, per run, an index into `seqs` of its start and of its end.
    """
    arr = np.asarray(seqs, dtype=np.int64)
    if not arr.size:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty((0, 2), dtype=np.int64)
    unique, first_index = np.unique(arr, return_index=True)
    breaks = np.flatnonzero(np.diff(unique) != 1)
    start_at = np.concatenate(([0], breaks + 1))
    end_at = np.concatenate((breaks, [unique.size - 1]))
    where = np.stack([first_index[start_at], first_index[end_at]], axis=1)
    return unique[start_at], unique[end_at], where


def spans_of(
    seqs: Sequence[int], tier: str, ts_of: Callable[[int], int | None] | None = None
) -> list[Span]:
    """Runs of consecutive sequences, one tier; `ts_of(i)`: the timestamp of `seqs[i]`."""
    starts, ends, where = runs(seqs)
    ts = ts_of or (lambda _: None)
    return [Span(int(a), int(b), tier, ts(int(i)), ts(int(j)))
            for a, b, (i, j) in zip(starts, ends, where, strict=True)]


def union(cols: Columns) -> Columns:
    """Overlapping or adjacent ranges of one tier merged, keeping the end timestamps."""
    first, last, first_ts, last_ts = cols
    if first.size < 2:
        return cols
    order = np.lexsort((-last, first))
    first, last, first_ts, last_ts = first[order], last[order], first_ts[order], last_ts[order]
    reach = np.maximum.accumulate(last)
    opens = np.ones(first.size, dtype=bool)
    opens[1:] = first[1:] > reach[:-1] + 1
    starts = np.flatnonzero(opens)
    ends = np.append(starts[1:] - 1, first.size - 1)
    # The row holding each group's highest last_seq (its timestamp is the group's end's).
    holder = np.maximum.accumulate(np.where(last == reach, np.arange(first.size), -1))
    return first[starts], reach[ends], first_ts[starts], last_ts[holder[ends]]


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Union per tier: overlapping or adjacent spans become one, keeping end timestamps."""
    by_tier: dict[str, list[Span]] = {}
    for span in spans:
        by_tier.setdefault(span.tier, []).append(span)
    return [s for tier in sorted(by_tier) for s in _spans(tier, union(_columns(by_tier[tier])))]


def _columns(spans: list[Span]) -> Columns:
    def ints(values: Iterable[int | None]) -> Array:
        return np.fromiter((NO_TS if v is None else v for v in values), np.int64, len(spans))

    return (ints(s.first_seq for s in spans), ints(s.last_seq for s in spans),
            ints(s.first_ts_ns for s in spans), ints(s.last_ts_ns for s in spans))


def _spans(tier: str, cols: Columns) -> list[Span]:
    def ts(v: int) -> int | None:
        return None if v == NO_TS else v

    return [Span(int(a), int(b), tier, ts(int(c)), ts(int(d)))
            for a, b, c, d in zip(*cols, strict=True)]


def _ints(column: Any) -> Array:
    """An int64 column (pyarrow) as numpy, nulls as NO_TS."""
    return np.asarray(column.fill_null(NO_TS).to_numpy(), dtype=np.int64)


def _table(stream: str, spans: list[Span], now_ns: int) -> pa.Table:
    rows = [{"stream": stream, **s._asdict(), "written_at_ns": now_ns} for s in spans]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_received(storage: Storage, stream: str, spans: list[Span]) -> str | None:
    """Record received spans durably and atomically (one file); returns its path."""
    if not spans:
        return None
    path = f"{store.stream_dir(KIND, stream)}/{partitioning.new_file_name()}"
    store.write_table(storage, path, _table(stream, spans, time.time_ns()))
    return path


def write_seqs(
    storage: Storage, stream: str, tier: str, seqs: Sequence[int],
    ts_of: Callable[[int], int | None] | None = None,
) -> str | None:
    """Record the runs of `seqs` (one flush's messages) in one file; returns its path.

    `ts_of(i)`: the NATS timestamp of `seqs[i]`, asked for run ends only.
    """
    starts, ends, where = runs(seqs)
    if not starts.size:
        return None
    ts = ts_of or (lambda _: None)
    n = starts.size
    table = pa.table({
        "stream": pa.array([stream] * n, pa.string()),
        "first_seq": pa.array(starts, pa.int64()),
        "last_seq": pa.array(ends, pa.int64()),
        "tier": pa.array([tier] * n, pa.string()),
        "first_ts_ns": pa.array([ts(int(i)) for i in where[:, 0]], pa.int64()),
        "last_ts_ns": pa.array([ts(int(i)) for i in where[:, 1]], pa.int64()),
        "written_at_ns": pa.array(np.full(n, time.time_ns(), dtype=np.int64), pa.int64()),
    }, schema=SCHEMA)
    path = f"{store.stream_dir(KIND, stream)}/{partitioning.new_file_name()}"
    store.write_table(storage, path, table)
    return path


@dataclass
class ReceivedView:
    """The union of a stream's received files; `refresh` reads only files not read before.

    Ledger files never change once written (unique names, atomic writes), so a long-lived
    view (the service's audit) costs one LIST and the new files per refresh.
    """

    stream: str
    tiers: dict[str, Columns] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)  # read, and still listed at the last refresh

    def refresh(self, storage: Storage) -> int:
        """Read the files written since the last refresh; returns how many there were."""
        listed = store.ledger_files(storage, KIND, self.stream)
        new = 0
        for path in listed:
            if path in self.paths:
                continue
            try:
                table = store.read_table(storage, path, SCHEMA)
            except FileNotFoundError:
                continue  # merged and deleted meanwhile: its spans are in the merged file
            self._add(table)
            self.paths.add(path)
            new += 1
        self.paths &= set(listed)
        return new

    def _add(self, table: pa.Table) -> None:
        names = ("first_seq", "last_seq", "first_ts_ns", "last_ts_ns")
        cols = [_ints(table.column(n)) for n in names]
        tiers = np.asarray(table.column("tier").to_pylist(), dtype=object)
        for tier in sorted({str(t) for t in tiers}):
            mask = tiers == tier
            part = (cols[0][mask], cols[1][mask], cols[2][mask], cols[3][mask])
            old = self.tiers.get(tier)
            if old is not None:
                part = (np.concatenate((old[0], part[0])), np.concatenate((old[1], part[1])),
                        np.concatenate((old[2], part[2])), np.concatenate((old[3], part[3])))
            self.tiers[tier] = union(part)

    def spans(self) -> list[Span]:
        """The union, per tier, sorted by (tier, first_seq)."""
        return [s for tier in sorted(self.tiers) for s in _spans(tier, self.tiers[tier])]


def read_received(storage: Storage, stream: str) -> list[Span]:
    """The received spans of a stream, merged per tier and sorted by (tier, first_seq)."""
    view = ReceivedView(stream)
    view.refresh(storage)
    return view.spans()


def merge(storage: Storage, view: ReceivedView) -> str | None:
    """Replace the files the view read by one file of its union; returns the new file.

    Only files the view read are deleted, after the merged file is durable: whatever
    another instance writes or merges meanwhile is either untouched or already included.
    """
    if len(view.paths) < 2:
        return None
    path = f"{store.stream_dir(KIND, view.stream)}/{MERGED_PREFIX}{partitioning.new_file_name()}"
    store.write_table(storage, path, _table(view.stream, view.spans(), time.time_ns()))
    storage.delete(sorted(view.paths))
    view.paths = {path}
    return path


def start_path(stream: str) -> str:
    """Where a stream's ledger start is kept."""
    return f"{store.stream_dir(START_KIND, stream)}/start.parquet"


def read_start(storage: Storage, stream: str) -> int | None:
    """The first sequence the ledger answers for (earlier ones predate it), or None."""
    try:
        table = store.read_table(storage, start_path(stream), START_SCHEMA)
    except FileNotFoundError:
        return None
    values = [v for v in table.column("first_seq").to_pylist() if v is not None]
    return int(values[0]) if values else None


def write_start(storage: Storage, stream: str, first_seq: int) -> None:
    """Record where the ledger of a stream starts."""
    row = {"stream": stream, "first_seq": first_seq, "recorded_at_ns": time.time_ns()}
    store.write_table(storage, start_path(stream), pa.Table.from_pylist([row], schema=START_SCHEMA))
