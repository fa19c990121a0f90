"""`lakeconsole iceberg sync`: make every table name exactly the lake's current files.

Silver, per (dataset, value, date), under the partition's compaction lease: commit the
manifest's files if the table differs (the heal after a crash or a failed commit), then
delete the date's files that neither the manifest nor any unexpired snapshot names
(expired generations). Gold, per (value, date): commit every visible Gold file of the
date if the table differs. Gold is append-only, so this appends what the writers flushed
since the last sync, in one snapshot per date: a commit per flush would add a snapshot
every second or two and stall the writer for a commit's 0.1 to 0.5 s, where a sync per
closed hour (cron) adds one per partition and hour. Snapshots are expired per table
first, by `[iceberg] keep_snapshots` and `keep_hours`, so their files go in the same run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import Dataset, bronze_datasets, gold_datasets
from lakeconsole.contract.tiers import Tier
from lakeconsole.errors import describe
from lakeconsole.iceberg.silver import SilverTables
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout
from lakeconsole.silver.lease import Lease

SyncStatus = Literal["committed", "current", "busy", "failed"]


@dataclass(frozen=True)
class SyncResult:
    """What sync did to one (dataset, value, date): `dataset/value/date`."""

    key: str
    status: SyncStatus
    detail: str = ""
    deleted: int = 0


def sync(
    storage: Storage, settings: Settings, datasets: Sequence[Dataset] | None = None
) -> list[SyncResult]:
    """Reconcile every date of the Silver datasets with its Iceberg table."""
    tables = SilverTables(storage, settings)
    results: list[SyncResult] = []
    for ds in datasets or [*bronze_datasets(), *gold_datasets()]:
        tables.expire(tables.table(ds))
        tier: Tier = "gold" if ds.tier == "gold" else "silver"
        for value in listing.values(storage, ds, tier):
            for day in listing.dates(storage, ds, value, tier):
                sync_one = _sync_gold_date if tier == "gold" else _sync_date
                results.append(sync_one(tables, ds, value, day))
    return results


def _sync_gold_date(tables: SilverTables, ds: Dataset, value: str, day: str) -> SyncResult:
    key = f"{ds.name}/{value}/{day}"
    base = partitioning.date_dir(ds, value, day, "gold")
    try:
        files = [f.path for f in tables.storage.files(base)]
        published = tables.publish_files(ds, value, day, files, base)
    except Exception as exc:  # one bad date must not stop the others
        return SyncResult(key, "failed", describe(exc))
    status: SyncStatus = "current" if published.commit.snapshot_id is None else "committed"
    return SyncResult(key, status, published.describe())


def _sync_date(tables: SilverTables, ds: Dataset, value: str, day: str) -> SyncResult:
    storage = tables.storage
    key = f"{ds.name}/{value}/{day}"
    lock = f"{layout.date_dir(ds, value, day)}/{layout.LOCK_NAME}"
    lease = Lease(storage, lock, tables.settings.silver.lease_ttl_s)
    holder = lease.acquire()
    if holder is not None:
        return SyncResult(key, "busy", f"being compacted by {holder.describe()}")
    try:
        manifest = layout.read_manifest(storage, ds, value, day)
        published = tables.publish(ds, manifest, value, day)
        keep = tables.retained(ds, value, day)
        deleted = layout.tidy(storage, ds, value, day, manifest, keep)
    except Exception as exc:  # one bad date must not stop the others
        return SyncResult(key, "failed", describe(exc))
    finally:
        lease.release()
    status: SyncStatus = "current" if published.commit.snapshot_id is None else "committed"
    return SyncResult(key, status, published.describe(), len(deleted))
