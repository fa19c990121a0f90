"""SilverCompactor: Bronze → Silver per (dataset, partition value, date) with DuckDB.

One compaction: take the partition's lease, read its Bronze files (quarantining the
unreadable ones), sort and deduplicate with DuckDB, write the hours' files of a new
generation beside the current ones, switch the manifest (one atomic write), delete the
old files. See `layout` for why readers never see a mix.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date as date_cls
from typing import Any
from urllib.parse import unquote

import duckdb
import numpy as np
import pyarrow as pa

from lakeconsole.config import Settings, SilverSettings
from lakeconsole.contract.schemas import Dataset, bronze_datasets, by_name
from lakeconsole.errors import CompactionError
from lakeconsole.lake import partitioning
from lakeconsole.lake.parquet import Encoding
from lakeconsole.lake.storage import FileInfo, Storage
from lakeconsole.silver import bronze_input, dedup, layout
from lakeconsole.silver.bronze_input import Quarantined
from lakeconsole.silver.chunks import plan_chunks, write_chunks
from lakeconsole.silver.lease import Lease

log = logging.getLogger(__name__)
MIB = 1024 * 1024
# Fault injection for tests: sleep this many seconds after writing a generation's files
# and before switching the manifest, so a test can kill the process at the worst moment.
PAUSE_ENV = "LAKECONSOLE_COMPACT_PAUSE_BEFORE_SWITCH"

Result = dict[str, Any]
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CompactionParams:
    """Tuning of the compactor; `from_settings` maps the `[silver]`/`[parquet]` sections."""

    target_file_bytes: int = 256 * MIB
    workers: int = 2
    threads: int = 2
    encoding: Encoding = field(default_factory=Encoding)
    lease_ttl_s: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings | SilverSettings) -> CompactionParams:
        """Parameters from the whole Settings or just its Silver section."""
        silver = settings.silver if isinstance(settings, Settings) else settings
        encoding = Encoding()
        if isinstance(settings, Settings):
            encoding = Encoding(settings.parquet.compression, settings.parquet.compression_level)
        return cls(silver.target_file_mb * MIB, silver.workers, encoding=encoding)


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

    def __init__(self, status: str, message: str) -> None:
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
        if params is None:
            params = CompactionParams()
        elif not isinstance(params, CompactionParams):
            params = CompactionParams.from_settings(params)
        self.params = params

    # -- the seed's interface ------------------------------------------------------------

    def compact_date(
        self, date: str, schema: str, partition_value: str, force: bool = False
    ) -> Result:
        """Compact one (dataset, partition value, date); never raises for data problems."""
        return self.run_job(CompactionJob(by_name(schema).name, partition_value, date), force)

    def compact_all_schemas(self, date: str) -> dict[str, Result]:
        """Every Bronze dataset and partition value of a date, keyed by `dataset/value`."""
        results = self.compact_many(self.plan(date))
        return {f"{r['dataset']}/{r['partition']}": r for r in results}

    def compact_all_dates(self, schema: str, partition_value: str) -> list[Result]:
        """Every date of one dataset and partition value, oldest first."""
        return self.compact_many(self.plan(None, schema, partition_value))

    # -- planning and running many -------------------------------------------------------

    def plan(
        self, date: str | None = None, schema: str | None = None, partition: str | None = None
    ) -> list[CompactionJob]:
        """The jobs for a date (None: every date) and optional dataset and partition value."""
        if date is not None:
            _check_date(date)
        datasets = [_bronze(schema)] if schema else bronze_datasets()
        jobs = []
        for ds in datasets:
            values = [partition] if partition else self._values(ds)
            for value in values:
                for day in self._dates(ds, value, date, explicit=partition is not None):
                    jobs.append(CompactionJob(ds.name, value, day))
        return sorted(jobs)

    def _values(self, ds: Dataset) -> list[str]:
        prefix = f"{ds.partition_key}="
        names = self.storage.list_dir(partitioning.dataset_dir(ds, "bronze"))
        return [unquote(n.removeprefix(prefix)) for n in names if n.startswith(prefix)]

    def _dates(self, ds: Dataset, value: str, date: str | None, explicit: bool) -> list[str]:
        if date is not None and explicit:
            return [date]  # asked for by name: an absent partition reports "empty"
        names = self.storage.list_dir(partitioning.value_dir(ds, value, "bronze"))
        dates = [n.removeprefix("date=") for n in names if n.startswith("date=")]
        return [d for d in dates if date is None or d == date]

    def compact_many(
        self,
        jobs: Sequence[CompactionJob],
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        workers: int | None = None,
        force: bool = False,
    ) -> list[Result]:
        """Run jobs in a bounded pool; results in job order; `cancel` skips the rest."""
        results: list[Result] = [{} for _ in jobs]
        if progress:
            progress(0, len(jobs), "")
        with ThreadPoolExecutor(max_workers=max(1, workers or self.params.workers)) as pool:
            futures = {pool.submit(self.run_job, job, force, cancel): i for i, job in
                       enumerate(jobs)}
            for done, future in enumerate(as_completed(futures), start=1):
                i = futures[future]
                results[i] = future.result()
                if progress:
                    progress(done, len(jobs), jobs[i].key)
        return results

    # -- one job -------------------------------------------------------------------------

    def run_job(
        self, job: CompactionJob, force: bool = False, cancel: threading.Event | None = None
    ) -> Result:
        """Compact one job and report how it went; errors become status `failed`."""
        started = time.perf_counter()
        result = _new_result(job)
        try:
            ds = _bronze(job.dataset)
            _check_date(job.date)
            _check_cancel(cancel)
            result.update(self._locked(ds, job, force, cancel))
        except _Stop as stop:
            result.update(status=stop.status, error=str(stop))
        except Exception as exc:  # one bad partition must not stop the others
            log.exception("compaction of %s failed", job.key)
            result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result

    def _locked(
        self, ds: Dataset, job: CompactionJob, force: bool, cancel: threading.Event | None
    ) -> Result:
        lock_path = f"{layout.date_dir(ds, job.value, job.date)}/{layout.LOCK_NAME}"
        lease = Lease(self.storage, lock_path, self.params.lease_ttl_s)
        holder = lease.acquire()
        if holder is not None:
            raise _Stop("busy", f"{job.key} is being compacted by {holder.describe()}; "
                                "try again when it finishes")
        try:
            return self._compact(ds, job, lease, force, cancel)
        finally:
            lease.release()

    def _compact(
        self,
        ds: Dataset,
        job: CompactionJob,
        lease: Lease,
        force: bool,
        cancel: threading.Event | None,
    ) -> Result:
        files = bronze_input.list_files(self.storage, ds, job.value, job.date)
        if not files:
            return {"status": "empty"}
        current = layout.read_manifest(self.storage, ds, job.value, job.date)
        if current and not force and current.bronze_fingerprint == bronze_input.fingerprint(files):
            return _unchanged(current)
        rows, good, moved = self._read_sorted(ds, files)
        _check_cancel(cancel)
        kept, in_day = _dedup_day(rows, ds, job.date)
        stats = _read_stats(rows.num_rows, in_day, kept.num_rows, good, moved)
        if kept.num_rows == 0:
            return {**stats, "status": "empty"}
        _check_cancel(cancel)
        manifest = self._publish(ds, job, kept, _rows_per_file(self.params, rows, good),
                                 good, current, lease, cancel)
        written = sum(f.bytes for f in manifest.files)
        return {**stats, "status": "ok", "generation": manifest.generation,
                "files_written": len(manifest.files), "bytes_written": written,
                "silver_rows": manifest.rows}

    def _read_sorted(
        self, ds: Dataset, files: list[FileInfo]
    ) -> tuple[pa.Table, list[FileInfo], list[Quarantined]]:
        """All Bronze rows in Silver order; unreadable files are quarantined, the rest read."""
        try:
            return self._sorted(ds, files), files, []
        except (duckdb.Error, OSError, pa.ArrowException):
            bad = bronze_input.probe(self.storage, ds, files)
            if not bad:
                raise  # not a file's fault (storage down, out of memory): the job fails
        moved = [bronze_input.quarantine(self.storage, info.path, why) for info, why in bad]
        gone = {info.path for info, _ in bad}
        good = [f for f in files if f.path not in gone]
        return self._sorted(ds, good), good, moved

    def _sorted(self, ds: Dataset, files: list[FileInfo]) -> pa.Table:
        if not files:
            return ds.schema.empty_table()
        with duckdb.connect(config={"threads": self.params.threads}) as con:
            # No progress bar: it would draw on the caller's terminal from a worker thread.
            con.execute("SET enable_progress_bar = false")
            if self.storage.is_local:
                return dedup.sorted_rows(con, bronze_input.read_parquet_sql(self.storage, files),
                                         ds)
            # S3: Arrow reads through fsspec in parallel; DuckDB sorts the Arrow table.
            con.register("bronze_rows", bronze_input.scan(self.storage, ds, files))
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
    ) -> layout.Manifest:
        taken = layout.hour_files(self.storage, ds, job.value, job.date)
        chunks = plan_chunks(kept, job.date, rows_per_file, taken)
        base = layout.date_dir(ds, job.value, job.date)
        written = write_chunks(self.storage, ds, base, kept, chunks, self.params)
        try:
            _pause_for_tests()
            _check_cancel(cancel)
            self._check_switch(ds, job, current, lease)
            manifest = layout.Manifest(
                ds.schema_id, job.value, job.date, _generation(current) + 1, tuple(written),
                kept.num_rows, bronze_input.fingerprint(bronze_files))
            layout.write_manifest(self.storage, ds, manifest)
        except BaseException:
            self.storage.delete([f"{base}/{f.path}" for f in written])
            raise
        self.storage.delete(layout.garbage(self.storage, ds, manifest))
        return manifest

    def _check_switch(
        self, ds: Dataset, job: CompactionJob, current: layout.Manifest | None,
        lease: Lease,
    ) -> None:
        """Refuse to switch if our lease was broken or someone else switched meanwhile."""
        now = layout.read_manifest(self.storage, ds, job.value, job.date)
        if not lease.still_held() or _generation(now) != _generation(current):
            raise _Stop("busy", f"{job.key} was compacted by another process meanwhile; "
                                "this run's files were discarded")


def _bronze(name: str) -> Dataset:
    ds = by_name(name)
    if ds.tier != "bronze":
        raise CompactionError(f"{ds.name} is a {ds.tier} dataset; only Bronze is compacted")
    return ds


def _check_date(day: str) -> None:
    try:
        date_cls.fromisoformat(day)
    except ValueError:
        raise CompactionError(f"not a date (YYYY-MM-DD): {day!r}") from None


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise _Stop("cancelled", "cancelled before completion; the previous Silver is unchanged")


def _pause_for_tests() -> None:
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        time.sleep(float(pause))


def _generation(manifest: layout.Manifest | None) -> int:
    return manifest.generation if manifest else 0


def _dedup_day(rows: pa.Table, ds: Dataset, day: str) -> tuple[pa.Table, int]:
    """The day's rows without repeats, and how many rows of the day there were."""
    lo, hi = partitioning.day_bounds(day)
    ts = rows.column("ts_event_ns").to_numpy()
    first, stop = (int(i) for i in np.searchsorted(ts, [lo, hi]))
    in_day = rows.slice(first, stop - first)
    return dedup.drop_repeats(in_day, ds), in_day.num_rows


def _rows_per_file(params: CompactionParams, rows: pa.Table, files: list[FileInfo]) -> int:
    """Rows that make a file of about the target size, judging by Bronze's bytes per row."""
    on_disk = max(1, sum(f.size for f in files))
    return max(1, params.target_file_bytes * max(1, rows.num_rows) // on_disk)


def _new_result(job: CompactionJob) -> Result:
    return {
        "key": job.key, "dataset": job.dataset, "partition": job.value, "date": job.date,
        "status": "failed", "rows_read": 0, "rows_written": 0, "duplicates_removed": 0,
        "rows_outside_date": 0, "files_read": 0, "files_written": 0, "bytes_read": 0,
        "bytes_written": 0, "seconds": 0.0, "quarantined": [], "generation": None,
        "silver_rows": None, "unchanged": False, "error": None,
    }


def _read_stats(
    read: int, in_day: int, kept: int, files: list[FileInfo], moved: list[Quarantined]
) -> Result:
    return {
        "rows_read": read,
        "rows_written": kept,
        "duplicates_removed": in_day - kept,
        "rows_outside_date": read - in_day,
        "files_read": len(files),
        "bytes_read": sum(f.size for f in files),
        "quarantined": [{"path": q.path, "moved_to": q.moved_to, "reason": q.reason}
                        for q in moved],
    }


def _unchanged(current: layout.Manifest) -> Result:
    """Bronze is exactly what the current generation was built from: nothing to do."""
    return {"status": "ok", "unchanged": True, "generation": current.generation,
            "silver_rows": current.rows}
