"""Retention: delete old Bronze once Silver holds exactly it, and old quarantine files.

A Bronze date directory (dataset, value, date) before the cutoff goes only when Silver's
manifest for it was built from exactly the Bronze files present now (same fingerprint:
nothing arrived since) and every file the manifest names is on storage. The deletion
holds the partition's compaction lease, so no compaction of it interleaves; only the
files listed under the lease are deleted, so a file that lands meanwhile stays.

Before the first deletion `_bronze_pruned.json` is written beside the manifest: the files
about to go and the generation that holds their rows. A later prune finishes an
interrupted one with it (the Bronze left is a subset of what Silver was built from), and
it marks the date as one whose Bronze is gone: from then on Silver is the only complete
copy, and Bronze that arrives later is reported, not deleted.

Quarantine directories `quarantine/…/date=D` go when D is before the cutoff; a Bronze
file moved aside by compaction (`quarantine/bronze/…/date=D/….bad`) is kept until its
quarantine time (`at_ns` of its `.reason.json`) is before the cutoff too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from lakeconsole.contract.schemas import Dataset, bronze_datasets
from lakeconsole.errors import LakeError, describe
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.storage import FileInfo, Storage
from lakeconsole.silver import bronze_input, layout
from lakeconsole.silver.lease import Holder, Lease

PRUNED_NAME = layout.PRUNED_NAME
QUARANTINE = "quarantine"
DELETE_BATCH = 200  # files deleted between two checks (and renewals) of the lease
_GROUP = re.compile(r"^(quarantine/.+?/date=(\d{4}-\d{2}-\d{2}))/")

Tier = Literal["bronze", "quarantine"]
# would-delete (dry run) / deleted; kept-not-in-silver: no manifest; kept-stale: Bronze
# differs from what Silver was built from; kept-silver-incomplete: a Silver file the
# manifest names is missing; busy: a compaction holds the partition; failed: an error.
Status = Literal["would-delete", "deleted", "kept-not-in-silver", "kept-stale",
                 "kept-silver-incomplete", "busy", "failed"]


@dataclass(frozen=True)
class PruneResult:
    """What retention did, or would do, to one Bronze partition or quarantine directory."""

    tier: Tier
    key: str  # bronze: dataset/value/date; quarantine: the directory below quarantine/
    date: str
    status: Status
    files: int = 0
    bytes: int = 0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (`prune --json`)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Verdict:
    """The decision on one Bronze partition, before any deletion."""

    status: Status  # would-delete or a kept-… status
    files: list[FileInfo]
    detail: str = ""
    manifest: layout.Manifest | None = None
    resume: bool = False  # finishing an interrupted prune: its marker stays as it is


def cutoff(today: date, retain_days: int) -> str | None:
    """The oldest date kept (dates before it are pruned); None when retention is off (0)."""
    if retain_days <= 0:
        return None
    return (today - timedelta(days=retain_days)).isoformat()


def today_utc() -> date:
    """Today's UTC date: partitions are UTC dates."""
    return datetime.now(UTC).date()


# -- Bronze --------------------------------------------------------------------------------


def prune_bronze(
    storage: Storage,
    before: str,
    datasets: Sequence[Dataset] | None = None,
    dry_run: bool = True,
    lease_ttl_s: float = 900.0,
) -> list[PruneResult]:
    """Each Bronze date before `before` with files: deleted if Silver holds exactly them."""
    results = []
    for ds in datasets or bronze_datasets():
        for value in listing.values(storage, ds, "bronze"):
            for day in listing.dates(storage, ds, value, "bronze"):
                if _is_date(day) and day < before:
                    result = prune_partition(storage, ds, value, day, dry_run, lease_ttl_s)
                    if result is not None:
                        results.append(result)
    return results


def prune_partition(
    storage: Storage, ds: Dataset, value: str, day: str, dry_run: bool = True,
    lease_ttl_s: float = 900.0,
) -> PruneResult | None:
    """Prune one Bronze date (age is the caller's business); None when it has no files."""
    key = f"{ds.name}/{value}/{day}"
    try:
        # Judged without the lease first: taking it writes a lock object, which must not
        # create Silver directories for partitions that were never compacted.
        verdict = judge(storage, ds, value, day)
        if verdict is None or verdict.status != "would-delete":
            return _result(key, day, verdict)
        if dry_run:
            holder = _live_holder(storage, ds, value, day, lease_ttl_s)
            return _busy(key, day, holder) if holder else _result(key, day, verdict)
        return _delete_locked(storage, ds, value, day, lease_ttl_s)
    except Exception as exc:  # one partition's failure must not stop the others
        return PruneResult("bronze", key, day, "failed", detail=describe(exc))


def judge(storage: Storage, ds: Dataset, value: str, day: str) -> Verdict | None:
    """Whether Silver holds every row of the date's Bronze files; None when there are none."""
    files = bronze_input.list_files(storage, ds, value, day)
    if not files:
        return None
    manifest = layout.read_manifest(storage, ds, value, day)
    if manifest is None:
        return Verdict("kept-not-in-silver", files, "never compacted")
    marker = read_marker(storage, ds, value, day)
    resume = _interrupted(marker, manifest, files)
    if not resume and bronze_input.fingerprint(files) != manifest.bronze_fingerprint:
        return Verdict("kept-stale", files, _stale_detail(manifest, marker))
    missing = _missing_silver(storage, ds, manifest)
    if missing:
        return Verdict("kept-silver-incomplete", files,
                        f"{len(missing)} Silver file(s) of the manifest missing, e.g. {missing[0]}")
    detail = "finishing an interrupted prune" if resume else ""
    return Verdict("would-delete", files, detail, manifest, resume)


def _interrupted(
    marker: dict[str, Any] | None, manifest: layout.Manifest, files: list[FileInfo]
) -> bool:
    """Whether the Bronze left is part of what an earlier prune of this generation listed."""
    if marker is None or marker.get("bronze_fingerprint") != manifest.bronze_fingerprint:
        return False
    try:
        listed = {(f["path"], f["size"], f["version"]) for f in marker["files"]}
    except (KeyError, TypeError):
        return False  # not a marker this code wrote: only the plain rule may delete
    return all((f.path, f.size, f.version) in listed for f in files)


def _stale_detail(manifest: layout.Manifest, marker: dict[str, Any] | None) -> str:
    if marker is None:
        return f"Bronze changed since Silver generation {manifest.generation} was built"
    # Silver alone holds the pruned rows: a compaction from Bronze would not include them.
    return ("Bronze arrived after this date was pruned; Silver generation "
            f"{manifest.generation} alone holds the earlier {manifest.rows:,} rows")


def _missing_silver(storage: Storage, ds: Dataset, manifest: layout.Manifest) -> list[str]:
    """Files the manifest names that are not on storage with their recorded size."""
    base = layout.date_dir(ds, manifest.value, manifest.date)
    present = {f.path: f.size for f in storage.files(base)}
    return [f"{base}/{f.path}" for f in manifest.files
            if present.get(f"{base}/{f.path}") != f.bytes]


def _delete_locked(
    storage: Storage, ds: Dataset, value: str, day: str, lease_ttl_s: float
) -> PruneResult | None:
    """Under the partition's lease: judge again, mark the date, delete what was judged."""
    key = f"{ds.name}/{value}/{day}"
    lease = Lease(storage, _lock_path(ds, value, day), lease_ttl_s)
    holder = lease.acquire()
    if holder is not None:
        return _busy(key, day, holder)
    try:
        verdict = judge(storage, ds, value, day)  # a compaction may have run meanwhile
        if verdict is None or verdict.status != "would-delete":
            return _result(key, day, verdict)
        if verdict.manifest is not None and not verdict.resume:
            write_marker(storage, ds, verdict.manifest, verdict.files)
        paths = [f.path for f in verdict.files]
        _delete_files(storage, lease, paths)
        remove_empty_dirs(storage, paths, partitioning.dataset_dir(ds, "bronze"))
        return _result(key, day, dataclasses.replace(verdict, status="deleted"))
    finally:
        lease.release()


def _delete_files(storage: Storage, lease: Lease, paths: list[str]) -> None:
    """Delete in batches, stopping if the lease was lost (a compaction may then run)."""
    for start in range(0, len(paths), DELETE_BATCH):
        lease.renew()
        if not lease.still_held():
            raise LakeError("lost the partition's lease while deleting; "
                            "run prune again to finish")
        storage.delete(paths[start : start + DELETE_BATCH])


def _lock_path(ds: Dataset, value: str, day: str) -> str:
    return f"{layout.date_dir(ds, value, day)}/{layout.LOCK_NAME}"


def _live_holder(
    storage: Storage, ds: Dataset, value: str, day: str, lease_ttl_s: float
) -> Holder | None:
    """Who holds the partition's lease now, read without taking it (a dry run writes nothing)."""
    holder = Lease(storage, _lock_path(ds, value, day), lease_ttl_s).holder()
    if holder is None or holder.expired() or holder.dead():
        return None  # a compaction would break such a lease, and so would prune
    return holder


def _busy(key: str, day: str, holder: Holder) -> PruneResult:
    return PruneResult("bronze", key, day, "busy",
                       detail=f"being compacted by {holder.describe()}; try again later")


def _result(key: str, day: str, verdict: Verdict | None) -> PruneResult | None:
    if verdict is None:
        return None
    nbytes = sum(f.size for f in verdict.files)
    return PruneResult("bronze", key, day, verdict.status, len(verdict.files), nbytes,
                       verdict.detail)


def marker_path(ds: Dataset, value: str, day: str) -> str:
    """`silver/…/date=D/_bronze_pruned.json`: hidden from readers, kept by `layout.tidy`."""
    return f"{layout.date_dir(ds, value, day)}/{PRUNED_NAME}"


def read_marker(storage: Storage, ds: Dataset, value: str, day: str) -> dict[str, Any] | None:
    """The record of the date's last prune, or None (an unreadable one counts as none)."""
    try:
        body = json.loads(storage.read_bytes(marker_path(ds, value, day)))
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # then nothing is resumed: only the plain rule can delete
    return body if isinstance(body, dict) else None


def write_marker(
    storage: Storage, ds: Dataset, manifest: layout.Manifest, files: list[FileInfo]
) -> None:
    """Record, before deleting, which Bronze files go and which Silver generation holds them."""
    body = {
        "format": 1,
        "bronze_fingerprint": manifest.bronze_fingerprint,
        "generation": manifest.generation,
        "silver_rows": manifest.rows,
        "files": [{"path": f.path, "size": f.size, "version": f.version} for f in files],
        "bytes": sum(f.size for f in files),
        "at_ns": time.time_ns(),
    }
    path = marker_path(ds, manifest.value, manifest.date)
    storage.write_atomic(path, json.dumps(body, indent=1).encode())


# -- quarantine ----------------------------------------------------------------------------


def prune_quarantine(
    storage: Storage, before: str, datasets: Sequence[Dataset] | None = None,
    dry_run: bool = True,
) -> list[PruneResult]:
    """Every quarantine directory `…/date=D` with D (and its quarantine time) before `before`."""
    results = []
    for directory, (day, files) in sorted(_quarantine_groups(storage, datasets).items()):
        if day >= before:
            continue
        result = _prune_group(storage, directory, day, files, before, dry_run)
        if result is not None:
            results.append(result)
    return results


def _prune_group(
    storage: Storage, directory: str, day: str, files: list[FileInfo], before: str,
    dry_run: bool,
) -> PruneResult | None:
    key = directory.removeprefix(f"{QUARANTINE}/")
    try:
        if _quarantined_on(storage, files) >= before:
            return None  # moved aside recently (a late compaction): not yet looked at
        if not dry_run:
            storage.delete([f.path for f in files])
            remove_empty_dirs(storage, [f.path for f in files], QUARANTINE)
        status: Status = "would-delete" if dry_run else "deleted"
        return PruneResult("quarantine", key, day, status, len(files), sum(f.size for f in files))
    except Exception as exc:  # one directory's failure must not stop the others
        return PruneResult("quarantine", key, day, "failed", detail=describe(exc))


def _quarantine_groups(
    storage: Storage, datasets: Sequence[Dataset] | None
) -> dict[str, tuple[str, list[FileInfo]]]:
    """Quarantine files by their `…/date=D` directory (one LIST), optionally of some datasets."""
    prefixes = None if datasets is None else tuple(_quarantine_prefixes(datasets))
    groups: dict[str, tuple[str, list[FileInfo]]] = {}
    for info in storage.files(QUARANTINE, suffix=""):
        m = _GROUP.match(info.path)
        if m is None or (prefixes is not None and not info.path.startswith(prefixes)):
            continue  # a file outside any date directory is not retention's to judge
        groups.setdefault(m.group(1), (m.group(2), []))[1].append(info)
    return groups


def _quarantine_prefixes(datasets: Sequence[Dataset]) -> Iterable[str]:
    for ds in datasets:
        # The subject directory as lake/quarantine.py names it, and moved-aside Bronze files.
        yield f"{QUARANTINE}/{quote(ds.subject, safe='._-')}/"
        yield f"{QUARANTINE}/{partitioning.dataset_dir(ds, 'bronze')}/"


def _quarantined_on(storage: Storage, files: list[FileInfo]) -> str:
    """The latest UTC date a file of the group was moved aside ("" when none says)."""
    latest = ""
    for info in files:
        if info.path.endswith(".reason.json"):
            try:
                at_ns = int(json.loads(storage.read_bytes(info.path))["at_ns"])
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                continue  # no usable time: the directory's date decides
            latest = max(latest, partitioning.hour_of(at_ns)[0])
    return latest


# -- shared --------------------------------------------------------------------------------


def remove_empty_dirs(storage: Storage, paths: Iterable[str], stop: str) -> None:
    """Remove the directories of deleted files that are now empty, up to `stop` (exclusive).

    S3 has no directories; local disk keeps empty ones, which listings would still show
    as dates. `rmdir` only ever removes an empty directory; a writer racing it for the
    same old date gets a failed write, retried from NATS.
    """
    if not storage.is_local:
        return
    for start in sorted({posixpath.dirname(p) for p in paths}, reverse=True):
        directory = start
        while directory.startswith(f"{stop}/"):
            try:
                os.rmdir(storage.full(directory))
            except FileNotFoundError:
                pass  # removed already through a sibling: its parent may be empty now
            except OSError:
                break  # not empty: neither are its parents
            directory = posixpath.dirname(directory)


def _is_date(day: str) -> bool:
    try:
        partitioning.check_date(day)
    except LakeError:
        return False
    return True
