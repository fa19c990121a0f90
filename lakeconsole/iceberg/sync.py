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

Dates the table names but the lake no longer has (their directory removed by hand: nothing
in lakeconsole deletes Silver or Gold dates) are reconciled the same way: with no files
left, the commit removes all of the date's files from the table, so its scans stop
naming files that are gone. Their results say `dropped: …`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import Dataset, bronze_datasets, gold_datasets
from lakeconsole.contract.tiers import Tier
from lakeconsole.errors import describe
from lakeconsole.iceberg.silver import Published, SilverTables
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout, retention
from lakeconsole.silver.lease import Lease

SyncStatus = Literal["committed", "current", "busy", "failed"]
DROPPED = "dropped: the date's files are no longer in the lake"


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
    """Reconcile every date of the lake and of the tables with the Iceberg tables."""
    tables = SilverTables(storage, settings)
    results: list[SyncResult] = []
    for ds in datasets or [*bronze_datasets(), *gold_datasets()]:
        tables.expire(tables.table(ds))
        tier: Tier = "gold" if ds.tier == "gold" else "silver"
        # Read before listing: a date committed after this is listed too, never "dropped".
        named = tables.named_dates(ds, tier)
        listed = [(value, day) for value in listing.values(storage, ds, tier)
                  for day in listing.dates(storage, ds, value, tier)]
        for value, day in listed:
            results.append(_sync_one(tables, ds, tier, value, day))
        for value, day in sorted(named - set(listed)):
            results.append(_sync_dropped(tables, ds, tier, value, day))
    return results


def _sync_one(tables: SilverTables, ds: Dataset, tier: Tier, value: str, day: str
              ) -> SyncResult:
    if tier == "gold":
        return _sync_gold_date(tables, ds, value, day)
    return _sync_date(tables, ds, value, day)


def _sync_dropped(tables: SilverTables, ds: Dataset, tier: Tier, value: str, day: str
                  ) -> SyncResult:
    """A date the table names whose directory is gone: the same sync, with no files."""
    result = _sync_one(tables, ds, tier, value, day)
    if tier == "silver":
        # The lease's lock object made the date's directory again on local disk: an empty
        # directory would be listed as a date from now on.
        retention.remove_empty_dirs(tables.storage, [_lock_path(ds, value, day)],
                                    partitioning.dataset_dir(ds, "silver"))
    return result


def _sync_gold_date(tables: SilverTables, ds: Dataset, value: str, day: str) -> SyncResult:
    key = f"{ds.name}/{value}/{day}"
    base = partitioning.date_dir(ds, value, day, "gold")
    try:
        files = [f.path for f in tables.storage.files(base)]
        published = tables.publish_files(ds, value, day, files, base)
    except Exception as exc:  # one bad date must not stop the others
        return SyncResult(key, "failed", describe(exc))
    return _outcome(key, published, not files)


def _sync_date(tables: SilverTables, ds: Dataset, value: str, day: str) -> SyncResult:
    storage = tables.storage
    key = f"{ds.name}/{value}/{day}"
    lease = Lease(storage, _lock_path(ds, value, day), tables.settings.silver.lease_ttl_s)
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
    return _outcome(key, published, manifest is None or not manifest.files, len(deleted))


def _outcome(key: str, published: Published, emptied: bool, deleted: int = 0) -> SyncResult:
    """`committed` (a commit that left the date no files says `dropped`) or `current`."""
    if published.commit.snapshot_id is None:
        return SyncResult(key, "current", published.describe(), deleted)
    detail = f"{DROPPED}; {published.describe()}" if emptied else published.describe()
    return SyncResult(key, "committed", detail, deleted)


def _lock_path(ds: Dataset, value: str, day: str) -> str:
    return f"{layout.date_dir(ds, value, day)}/{layout.LOCK_NAME}"
