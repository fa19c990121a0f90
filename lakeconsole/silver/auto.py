"""Automatic compaction planning: which (dataset, partition, date) are due now.

Pure decisions over Bronze listings, Silver manifests and the clock (no threads, no
NATS): the service's loop (`lakeconsole.ingest.autocompact`) calls `due_jobs` periodically
and runs or queues what it returns.

A date is due when its Bronze differs from what its current Silver generation was built
from (the manifest's fingerprint, or no manifest) and either

* an hour of it that holds Bronze has *settled* (closed `delay` seconds ago) since that
  generation was made: the hourly compaction of a date that is still being written; or
* none of its hours with Bronze is still open or settling: late data for a past hour,
  or a date first seen after the fact (a backfill).

Late data into a date that also has an unsettled hour waits for that hour to settle, so
a date being written is compacted once per hour, not once per flush.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakeconsole.contract.schemas import Dataset, bronze_datasets
from lakeconsole.errors import describe
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.storage import FileInfo, Storage
from lakeconsole.silver import bronze_input, layout

if TYPE_CHECKING:  # the compactor (DuckDB) is loaded only when a job is planned
    from lakeconsole.silver.compactor import CompactionJob

NS = 1_000_000_000


@dataclass(frozen=True)
class DueJob:
    """A job that is due, with the Bronze fingerprint it was planned from and why."""

    job: CompactionJob
    fingerprint: str
    reason: str  # "hour closed", "late data" or "new date"


def hour_of_path(path: str) -> int | None:
    """The `hour=HH` of a Bronze file path, or None for a path without one."""
    parsed = partitioning.parse(path)
    return parsed.hour if parsed is not None else None


def settle_ns(day: str, hour: int, delay_s: float) -> int:
    """When hour `hour` of `day` has been closed for `delay_s` seconds (UTC ns)."""
    start = partitioning.day_bounds(day)[0]
    return start + (hour + 1) * partitioning.NS_PER_HOUR + int(delay_s * NS)


def why_due(
    day: str,
    files: Iterable[FileInfo],
    manifest: layout.Manifest | None,
    now_ns: int,
    delay_s: float,
) -> str | None:
    """The reason the date's Bronze `files` need compacting now, or None if not yet."""
    files = list(files)
    if not files:
        return None
    if manifest is not None and manifest.bronze_fingerprint == bronze_input.fingerprint(files):
        return None  # Silver is built from exactly this Bronze
    hours = {h for h in (hour_of_path(f.path) for f in files) if h is not None}
    settles = sorted(settle_ns(day, h, delay_s) for h in hours)
    if not settles:
        return None
    built_ns = manifest.created_ns if manifest is not None else 0
    if any(built_ns < s <= now_ns for s in settles):
        return "hour closed" if manifest is not None else "new date"
    if settles[-1] <= now_ns:  # every hour settled before the last build: data came late
        return "late data" if manifest is not None else "new date"
    return None


def due_jobs(
    storage: Storage,
    now_ns: int,
    delay_s: float,
    datasets: Iterable[Dataset] | None = None,
    problems: list[str] | None = None,
) -> list[DueJob]:
    """Every (dataset, partition, date) of the lake that is due at `now_ns`, in job order.

    A date that cannot be judged (an unreadable manifest…) is skipped and described in
    `problems`: one bad partition must not stop the plan of the others.
    """
    due = []
    for ds in datasets if datasets is not None else bronze_datasets():
        for value in listing.values(storage, ds, "bronze"):
            for day in listing.dates(storage, ds, value, "bronze"):
                try:
                    found = _due(storage, ds, value, day, now_ns, delay_s)
                except Exception as exc:
                    if problems is not None:
                        problems.append(f"{ds.name}/{value}/{day}: {describe(exc)}")
                    continue
                if found is not None:
                    due.append(found)
    return sorted(due, key=lambda d: d.job.key)


def _due(
    storage: Storage, ds: Dataset, value: str, day: str, now_ns: int, delay_s: float
) -> DueJob | None:
    try:
        partitioning.check_date(day)
    except Exception:  # a stray directory name: not a date, never a job
        return None
    files = bronze_input.list_files(storage, ds, value, day)
    manifest = layout.read_manifest(storage, ds, value, day)
    reason = why_due(day, files, manifest, now_ns, delay_s)
    if reason is None:
        return None
    from lakeconsole.silver.compactor import CompactionJob

    return DueJob(CompactionJob(ds.name, value, day), bronze_input.fingerprint(files), reason)
