"""SilverCompactor: Bronze → Silver per (dataset, partition value, date) with DuckDB.

One compaction: take the partition's lease, delete what a crashed or failed run left,
read its Bronze files (quarantining the unreadable ones), sort and deduplicate with
DuckDB, write the hours' files of a new generation under hidden names beside the current
ones, switch (rename them, then the manifest: one atomic write), delete the old files.
See `layout` for the invariant and why readers never see a mix.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from lakeconsole.config import Settings, SilverSettings
from lakeconsole.contract.schemas import Dataset, bronze_datasets, by_name
from lakeconsole.errors import CompactionError, describe
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.storage import FileInfo, Storage
from lakeconsole.ledger import feeds
from lakeconsole.silver import bronze_input, dedup, layout
from lakeconsole.silver.chunks import plan_chunks, write_chunks
from lakeconsole.silver.lease import Lease
from lakeconsole.silver.params import CompactionParams
from lakeconsole.silver.result import CompactionResult, QuarantinedFile, Status

if TYPE_CHECKING:
    from lakeconsole.iceberg.hook import IcebergHook

log = logging.getLogger(__name__)

Fields = dict[str, Any]  # some fields of a CompactionResult, as one step found them
# (done, total, the result just finished or None at the start)
Progress = Callable[[int, int, "CompactionResult | None"], None]


@dataclass(frozen=True, order=True)
class CompactionJob:
    """One unit of compaction: a dataset (short name), a partition value, a UTC date."""

    dataset: str
    value: str
    date: str

    @property
    def key(self) -> str:
        """`stocks.trades/SPY/2024-03-01`: names the job in results and progress."""
        return f"{self.dataset}/{self.value}/{self.date}"


class _Stop(Exception):
    """Ends one compaction early with a status other than ok/failed."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


class SilverCompactor:
    """Compacts Bronze into deduplicated, sorted, atomically switched Silver."""

    def __init__(
        self,
        storage: Storage,
        params: Settings | SilverSettings | CompactionParams | None = None,
    ) -> None:
        self.storage = storage
        self.iceberg = _iceberg_hook(storage, params)  # None unless [iceberg] enabled
        if params is None:
            params = CompactionParams()
        elif not isinstance(params, CompactionParams):
            params = CompactionParams.from_settings(params)
        self.params = params

    # -- the interface docs/design.md §7 promises -----------------------------------------

    def compact_date(
        self, date: str, schema: str, partition_value: str, force: bool = False
    ) -> dict[str, Any]:
        """Compact one (dataset, partition value, date); the result dict of docs/design.md §5."""
        job = CompactionJob(by_name(schema).name, partition_value, date)
        return self.run_job(job, force).to_dict()

    def compact_all_schemas(self, date: str) -> dict[str, dict[str, Any]]:
        """Every Bronze dataset and partition value of a date, keyed by `dataset/value`."""
        results = self.compact_many(self.plan(date))
        return {f"{r.dataset}/{r.partition}": r.to_dict() for r in results}

    def compact_all_dates(self, schema: str, partition_value: str) -> list[dict[str, Any]]:
        """Every date of one dataset and partition value, oldest first."""
        return [r.to_dict() for r in self.compact_many(self.plan(None, schema, partition_value))]

    # -- planning and running many -------------------------------------------------------

    def plan(
        self, date: str | None = None, schema: str | None = None, partition: str | None = None
    ) -> list[CompactionJob]:
        """The jobs for a date (None: every date) and optional dataset and partition value."""
        if date is not None:
            partitioning.check_date(date)
        datasets = [_bronze(schema)] if schema else bronze_datasets()
        jobs = []
        for ds in datasets:
            values = [partition] if partition else listing.values(self.storage, ds, "bronze")
            for value in values:
                for day in self._dates(ds, value, date, explicit=partition is not None):
                    jobs.append(CompactionJob(ds.name, value, day))
        return sorted(jobs)

    def _dates(self, ds: Dataset, value: str, date: str | None, explicit: bool) -> list[str]:
        if date is not None and explicit:
            return [date]  # asked for by name: an absent partition reports "empty"
        dates = listing.dates(self.storage, ds, value, "bronze")
        return [d for d in dates if date is None or d == date]

    def compact_many(
        self,
        jobs: Sequence[CompactionJob],
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int | None = None,
        force: bool = False,
    ) -> list[CompactionResult]:
        """Run jobs in a bounded pool; results in job order; `cancel` skips the rest."""
        results: list[CompactionResult | None] = [None for _ in jobs]
        if progress:
            progress(0, len(jobs), None)
        with ThreadPoolExecutor(max_workers=max(1, workers or self.params.workers)) as pool:
            futures = {pool.submit(self.run_job, job, force, cancel): i for i, job in
                       enumerate(jobs)}
            for done, future in enumerate(as_completed(futures), start=1):
                i = futures[future]
                results[i] = future.result()
                if progress:
                    progress(done, len(jobs), results[i])
        return [r for r in results if r is not None]

    # -- one job -------------------------------------------------------------------------

    def run_job(
        self, job: CompactionJob, force: bool = False, cancel: threading.Event | None = None
    ) -> CompactionResult:
        """Compact one job and report how it went; errors become status `failed`."""
        started = time.perf_counter()
        result = CompactionResult(job.key, job.dataset, job.value, job.date)
        try:
            ds = _bronze(job.dataset)
            partitioning.check_date(job.date)
            _check_cancel(cancel)
            result = result.but(**self._locked(ds, job, force, cancel))
        except _Stop as stop:
            result = result.but(status=stop.status, error=str(stop))
        except Exception as exc:  # one bad partition must not stop the others
            log.exception("compaction of %s failed", job.key)
            result = result.but(status="failed", error=describe(exc))
        return result.but(seconds=round(time.perf_counter() - started, 3))

    def _locked(
        self, ds: Dataset, job: CompactionJob, force: bool, cancel: threading.Event | None
    ) -> Fields:
        lock_path = f"{layout.date_dir(ds, job.value, job.date)}/{layout.LOCK_NAME}"
        lease = Lease(self.storage, lock_path, self.params.lease_ttl_s)
        holder = lease.acquire()
        if holder is not None:
            raise _Stop("busy", f"{job.key} is being compacted by {holder.describe()}; "
                                "try again when it finishes")
        try:
            # Every run, even one with nothing to compact, clears what crashed runs left.
            current = layout.read_manifest(self.storage, ds, job.value, job.date)
            keep = self.iceberg.keep(ds, job.value, job.date) if self.iceberg else frozenset()
            layout.tidy(self.storage, ds, job.value, job.date, current, keep)
            return self._compact(ds, job, current, lease, force, cancel, keep)
        finally:
            lease.release()

    def _compact(
        self,
        ds: Dataset,
        job: CompactionJob,
        current: layout.Manifest | None,
        lease: Lease,
        force: bool,
        cancel: threading.Event | None,
        keep: frozenset[str] = frozenset(),
    ) -> Fields:
        files = bronze_input.list_files(self.storage, ds, job.value, job.date)
        if not files:
            return {"status": "empty"}
        if current and not force and current.bronze_fingerprint == bronze_input.fingerprint(files):
            # A crash after the last switch may have skipped its commit: heal it here.
            return {**_unchanged(current), **self._commit_iceberg(ds, job, current)}
        carried = self._pruned_silver(ds, job, current)
        rows, good, moved = self._read_sorted(ds, [*files, *carried])
        lease.renew()  # reading a large partition is the long step: keep the lease fresh
        _check_cancel(cancel)
        kept, in_day = _dedup_day(rows, ds, job.date)
        stats = _read_stats(rows.num_rows, in_day, kept.num_rows, good, moved)
        if kept.num_rows == 0:
            return {**stats, "status": "empty"}
        _check_cancel(cancel)
        bronze = [f for f in good if f not in carried]
        manifest = self._publish(ds, job, kept, _rows_per_file(self.params, rows, good),
                                 bronze, current, lease, cancel, keep)
        gaps = self._record_feeds(ds, job, kept, manifest, bronze)
        iceberg = self._commit_iceberg(ds, job, manifest)
        written = sum(f.bytes for f in manifest.files)
        return {**stats, "status": "ok", "generation": manifest.generation,
                "files_written": len(manifest.files), "bytes_written": written,
                "silver_rows": manifest.rows, **gaps, **iceberg}

    def _commit_iceberg(self, ds: Dataset, job: CompactionJob, manifest: layout.Manifest
                        ) -> Fields:
        """With Iceberg on, make the table follow the manifest (the source of truth).

        After the switch and never failing the job: a failed commit is reported in the
        result, the table stays at its previous snapshot, and the next run or
        `lakeconsole iceberg sync` commits it.
        """
        if self.iceberg is None:
            return {}
        return {"iceberg": self.iceberg.publish(ds, manifest, job.value, job.date)}

    def _record_feeds(
        self, ds: Dataset, job: CompactionJob, kept: pa.Table, manifest: layout.Manifest,
        bronze: list[FileInfo],
    ) -> Fields:
        """Record the feed seq ranges and gaps of the new generation in the ledger.

        After the switch and best effort: Silver is already right, and without a current
        record `coverage` computes the same from Silver on demand.
        """
        try:
            found = feeds.record(self.storage, ds, job.value, job.date, kept,
                                 manifest.generation, bronze)
        except Exception:
            log.exception("could not record the feeds of %s in the ledger; "
                          "coverage will compute them from Silver", job.key)
            return {}
        return {"feed_gap_seqs": sum(f.missing for f in found)}

    def _pruned_silver(
        self, ds: Dataset, job: CompactionJob, current: layout.Manifest | None
    ) -> list[FileInfo]:
        """The current Silver files, when some of the date's Bronze was pruned after it was
        built: those events now exist only there, so they are input too (dedup merges)."""
        if current is None or not self.storage.exists(
            f"{layout.date_dir(ds, job.value, job.date)}/{layout.PRUNED_NAME}"
        ):
            return []
        base = layout.date_dir(ds, job.value, job.date)
        return [FileInfo(f"{base}/{f.path}", f.bytes) for f in current.files]

    def _read_sorted(
        self, ds: Dataset, files: Sequence[FileInfo]
    ) -> tuple[pa.Table, list[FileInfo], list[QuarantinedFile]]:
        """All Bronze rows in Silver order; damaged files are quarantined, the rest read.

        Read through Arrow with every check of `parquet.read_verified`, not by DuckDB's
        read_parquet: DuckDB does not verify page CRCs (measured: a flipped byte in a
        DOUBLE page decodes to a wrong value, silently), and compaction is where a wrong
        value would become permanent. DuckDB still does the sort.
        """
        got = bronze_input.read_files(self.storage, ds, files, self.params.threads)
        moved = [bronze_input.quarantine(self.storage, info.path, why) for info, why in got.bad]
        return self._sorted(ds, got.tables), got.read, moved

    def _sorted(self, ds: Dataset, tables: list[pa.Table]) -> pa.Table:
        if not tables:
            return ds.schema.empty_table()
        with duckdb.connect(config={"threads": self.params.threads}) as con:
            # No progress bar: it would draw on the caller's terminal from a worker thread.
            con.execute("SET enable_progress_bar = false")
            con.register("bronze_rows", pa.concat_tables(tables))
            return dedup.sorted_rows(con, "bronze_rows", ds)

    def _publish(
        self,
        ds: Dataset,
        job: CompactionJob,
        kept: pa.Table,
        rows_per_file: int,
        bronze_files: list[FileInfo],
        current: layout.Manifest | None,
        lease: Lease,
        cancel: threading.Event | None,
        keep: frozenset[str] = frozenset(),
    ) -> layout.Manifest:
        """Write the generation under hidden names, switch to it, delete the old one."""
        base = layout.date_dir(ds, job.value, job.date)
        # After the tidy, the current files (and those Iceberg snapshots keep) are the
        # only visible ones: avoid their numbers, never overwrite a file a snapshot names.
        used = layout.sequences_in_use(current, [p[len(base) + 1:] for p in keep])
        chunks = plan_chunks(kept, job.date, rows_per_file, used)
        run = lease.owner
        try:
            written = write_chunks(self.storage, ds, base, kept, chunks, self.params, run)
            _check_cancel(cancel)
            self._check_switch(ds, job, current, lease)
            manifest = layout.Manifest(
                ds.schema_id, job.value, job.date, _generation(current) + 1, tuple(written),
                kept.num_rows, bronze_input.fingerprint(bronze_files))
            layout.switch(self.storage, ds, manifest, run, self.params.threads)
        except BaseException:
            self._clean_up(ds, job, lease, run, keep)
            raise
        layout.tidy(self.storage, ds, job.value, job.date, manifest, keep)
        return manifest

    def _clean_up(
        self, ds: Dataset, job: CompactionJob, lease: Lease, run: str,
        keep: frozenset[str] = frozenset(),
    ) -> None:
        """After a failure, remove what this run wrote; never hides the failure itself."""
        try:
            if lease.still_held():
                # Re-read: a failed manifest write may still have landed (an S3 PUT whose
                # answer was lost); whichever generation is current is the one to keep.
                now = layout.read_manifest(self.storage, ds, job.value, job.date)
                layout.tidy(self.storage, ds, job.value, job.date, now, keep)
            else:  # someone broke our lease: everything but our pending files is theirs
                layout.discard(self.storage, ds, job.value, job.date, run)
        except Exception:
            log.exception("could not remove the files of a failed compaction of %s; "
                          "the next run of the partition will", job.key)

    def _check_switch(
        self, ds: Dataset, job: CompactionJob, current: layout.Manifest | None,
        lease: Lease,
    ) -> None:
        """Refuse to switch if our lease was broken or someone else switched meanwhile."""
        # Renewed first: the writes may have taken long, and the switch must end in the TTL.
        lease.renew()
        now = layout.read_manifest(self.storage, ds, job.value, job.date)
        if not lease.still_held() or _generation(now) != _generation(current):
            raise _Stop("busy", f"{job.key} was compacted by another process meanwhile; "
                                "this run's files were discarded")


def _iceberg_hook(
    storage: Storage, params: Settings | SilverSettings | CompactionParams | None
) -> IcebergHook | None:
    """The Iceberg hook when the whole Settings enable it; pyiceberg is imported only then."""
    if not isinstance(params, Settings) or not params.iceberg.enabled:
        return None
    from lakeconsole.iceberg.hook import IcebergHook

    return IcebergHook(storage, params)


def _bronze(name: str) -> Dataset:
    ds = by_name(name)
    if ds.tier != "bronze":
        raise CompactionError(f"{ds.name} is a {ds.tier} dataset; only Bronze is compacted")
    return ds


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise _Stop("cancelled", "cancelled before completion; the previous Silver is unchanged")


def _generation(manifest: layout.Manifest | None) -> int:
    return manifest.generation if manifest else 0


def _dedup_day(rows: pa.Table, ds: Dataset, day: str) -> tuple[pa.Table, int]:
    """The day's rows without repeats, and how many rows of the day there were."""
    ts = rows.column("ts_event_ns").to_numpy()
    first, stop = partitioning.search_ns(ts, partitioning.day_bounds(day))
    in_day = rows.slice(first, stop - first)
    return dedup.drop_repeats(in_day, ds), in_day.num_rows


def _rows_per_file(params: CompactionParams, rows: pa.Table, files: list[FileInfo]) -> int:
    """Rows that make a file of about the target size, judging by Bronze's bytes per row."""
    on_disk = max(1, sum(f.size for f in files))
    return max(1, params.target_file_bytes * max(1, rows.num_rows) // on_disk)


def _read_stats(
    read: int, in_day: int, kept: int, files: list[FileInfo], moved: list[QuarantinedFile]
) -> Fields:
    return {
        "rows_read": read,
        "rows_written": kept,
        "duplicates_removed": in_day - kept,
        "rows_outside_date": read - in_day,
        "files_read": len(files),
        "bytes_read": sum(f.size for f in files),
        "quarantined": tuple(moved),
    }


def _unchanged(current: layout.Manifest) -> Fields:
    """Bronze is exactly what the current generation was built from: nothing to do."""
    return {"status": "ok", "unchanged": True, "generation": current.generation,
            "silver_rows": current.rows}
