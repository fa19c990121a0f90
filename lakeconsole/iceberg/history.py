"""A table's snapshot history: what each commit changed, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from lakeconsole.contract.schemas import Dataset
from lakeconsole.iceberg import tables
from lakeconsole.iceberg.silver import SilverTables


@dataclass(frozen=True)
class SnapshotEntry:
    """One snapshot of a table, with the counts its summary records."""

    table: str
    snapshot_id: int
    parent_id: int | None
    committed_ms: int
    operation: str
    added_files: int
    deleted_files: int
    added_rows: int
    deleted_rows: int
    total_rows: int
    current: bool


def history(silver: SilverTables, ds: Dataset) -> list[SnapshotEntry]:
    """The live snapshots of the dataset's table, newest first (expired ones are gone)."""
    table = silver.table(ds)
    head = table.current_snapshot()
    entries = []
    for snap in table.snapshots():
        summary = snap.summary
        counts = dict(summary.additional_properties) if summary is not None else {}

        def count(key: str, counts: dict[str, str] = counts) -> int:
            return int(counts.get(key, 0))

        operation = summary.operation.value if summary is not None else "?"
        entries.append(SnapshotEntry(
            tables.identifier(ds), snap.snapshot_id, snap.parent_snapshot_id,
            snap.timestamp_ms, operation, count("added-data-files"),
            count("deleted-data-files"), count("added-records"), count("deleted-records"),
            count("total-records"), head is not None and snap.snapshot_id == head.snapshot_id))
    return sorted(entries, key=lambda e: (e.committed_ms, e.snapshot_id), reverse=True)
