"""Time travel: one partition and date of a Silver or Gold table as an older snapshot saw it.

The rows come back exactly as the tier's reader (`lakeconsole.query.readers`) returns them:
the dataset's columns and Arrow types, sorted by `ts_event_ns`, `seq`. A snapshot is
named by its id (what `iceberg history` lists) or by a time: the snapshot current then.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThanOrEqual,
)
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from lakeconsole.contract.schemas import Dataset
from lakeconsole.errors import LakeError, QueryError, describe
from lakeconsole.iceberg import tables
from lakeconsole.iceberg.catalog import IcebergError
from lakeconsole.iceberg.silver import SilverTables
from lakeconsole.lake import partitioning

NS_PER_MS = 1_000_000
MAX_NS = 2**63 - 1


def read_as_of(silver: SilverTables, ds: Dataset, partition_value: str, date: str, *,
               snapshot_id: int | None = None, as_of_ns: int | None = None,
               start_ns: int | None = None, end_ns: int | None = None) -> pa.Table:
    """Like the reader's read_arrow, as of a snapshot id or a time (ns since epoch)."""
    partitioning.check_date(date)
    table = silver.table(ds)
    if snapshot_id is not None and as_of_ns is None:
        snap = by_id(table, ds, snapshot_id)
    elif as_of_ns is not None and snapshot_id is None:
        snap = as_of_time(table, ds, as_of_ns)
    else:
        raise QueryError("time travel takes a snapshot id or a time, one of them")
    try:
        got = table.scan(row_filter=_filter(ds, partition_value, date, start_ns, end_ns),
                         snapshot_id=snap.snapshot_id).to_arrow()
    except LakeError:
        raise
    except Exception as exc:  # pyiceberg, Arrow, the file system: one line of cause
        raise IcebergError(f"cannot read {tables.identifier(ds)} as of snapshot "
                           f"{snap.snapshot_id}: {describe(exc)}") from exc
    # One scan task per file, in no promised order: sort like the readers do.
    got = got.take(pc.sort_indices(got, sort_keys=[(c, "ascending") for c in ds.sort_columns]))
    # pyiceberg may hand back large_string and drops the contract's nullability: cast back.
    return got.select(ds.columns).cast(ds.schema).replace_schema_metadata(None)


def by_id(table: Table, ds: Dataset, snapshot_id: int) -> Snapshot:
    """The live snapshot `snapshot_id` of the table."""
    snap = table.snapshot_by_id(snapshot_id)
    if snap is None:
        raise QueryError(f"no live snapshot {snapshot_id} in {tables.identifier(ds)} "
                         "(never made, or expired)")
    return snap


def as_of_time(table: Table, ds: Dataset, at_ns: int) -> Snapshot:
    """The snapshot that was the table's current one at `at_ns` (ns since the epoch)."""
    # Floor to ms, Iceberg's unit: a commit at ms m is current from m * 1e6 ns on.
    snap = table.snapshot_as_of_timestamp(at_ns // NS_PER_MS)
    if snap is not None:
        return snap
    name = tables.identifier(ds)
    live = table.snapshots()
    if not live:
        raise QueryError(f"{name} has no snapshot yet: compact the dataset first")
    oldest = min(s.timestamp_ms for s in live)
    # Before the first commit, or in the time of a snapshot that has expired since.
    raise QueryError(f"no live snapshot of {name} was current at {_utc(at_ns // NS_PER_MS)}"
                     f"; the oldest is from {_utc(oldest)}")


def _filter(ds: Dataset, value: str, date: str, start_ns: int | None,
            end_ns: int | None) -> BooleanExpression:
    """The partition value and the date's times in ns, narrowed to [start_ns, end_ns]."""
    lo, hi = partitioning.day_bounds(date)  # the table holds every date: keep this one's
    first = max(lo, start_ns) if start_ns is not None else lo
    # day_bounds' end is exclusive and may pass int64, which an Iceberg long literal is.
    last = min(hi - 1, MAX_NS, end_ns if end_ns is not None else MAX_NS)
    # The ignores: pyiceberg's pydantic stubs miss the (name, literal) constructor.
    key = EqualTo(ds.partition_key, value)  # type: ignore[call-arg,arg-type]
    since = GreaterThanOrEqual("ts_event_ns", first)  # type: ignore[call-arg,arg-type]
    until = LessThanOrEqual("ts_event_ns", last)  # type: ignore[call-arg,arg-type]
    return And(key, And(since, until))


def _utc(ms: int) -> str:
    """`2026-11-27 14:31:05.123 UTC`."""
    return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"
