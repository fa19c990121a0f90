"""Reading the Bronze files of one partition and date; unreadable files go to quarantine."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from lakeconsole.contract.schemas import Dataset
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import FileInfo, Storage

QUARANTINE_SUFFIX = ".bad"  # not `.parquet`: no reader or glob picks a broken file up


@dataclass(frozen=True)
class Quarantined:
    """A Bronze file moved aside, and why."""

    path: str
    moved_to: str
    reason: str


def list_files(storage: Storage, dataset: Dataset, value: str, day: str) -> list[FileInfo]:
    """Visible Bronze files of the partition and date (temp files are hidden)."""
    return storage.files(partitioning.date_dir(dataset, value, day, tier="bronze"))


def fingerprint(files: list[FileInfo]) -> str:
    """Identifies a set of Bronze files: same paths and sizes, same Silver."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.size}\n".encode())
    return h.hexdigest()


def read_parquet_sql(storage: Storage, files: list[FileInfo]) -> str:
    """A DuckDB `read_parquet(...)` over local files (DuckDB's own reader is the fastest)."""
    listing = ", ".join("'" + storage.full(f.path).replace("'", "''") + "'" for f in files)
    return f"read_parquet([{listing}], hive_partitioning = false)"


def scan(storage: Storage, dataset: Dataset, files: list[FileInfo]) -> pa.Table:
    """All rows of `files` through Arrow (for S3, through the storage's fsspec filesystem)."""
    if not files:
        return dataset.schema.empty_table()
    # Local paths go to Arrow's native reader; fsspec would add a Python layer per read.
    fs = None if storage.is_local else storage.fs
    paths = [storage.full(f.path) for f in files]
    scanner = pads.dataset(paths, schema=dataset.schema, format="parquet", filesystem=fs)
    return scanner.to_table(use_threads=True)


def probe(storage: Storage, dataset: Dataset, files: list[FileInfo]) -> list[tuple[FileInfo, str]]:
    """Read each file alone to find the ones that fail, with the reason."""
    bad = []
    for info in files:
        try:
            with storage.open(info.path) as fh:
                reason = _schema_problem(pq.read_schema(fh), dataset)
            if reason is None:
                scan(storage, dataset, [info])
        except FileNotFoundError:
            continue  # vanished meanwhile: nothing to quarantine
        except (OSError, pa.ArrowException) as exc:
            reason = f"unreadable Parquet: {type(exc).__name__}: {exc}"
        if reason is not None:
            bad.append((info, reason))
    return bad


def _schema_problem(schema: pa.Schema, dataset: Dataset) -> str | None:
    """Why a file's schema cannot be read as the dataset's, or None."""
    for expected in dataset.schema:
        if expected.name not in schema.names:
            return f"schema mismatch: column {expected.name} missing"
        actual = schema.field(expected.name).type
        if actual != expected.type:
            return f"schema mismatch: column {expected.name} is {actual}, not {expected.type}"
    return None


def quarantine(storage: Storage, relpath: str, reason: str) -> Quarantined:
    """Move a Bronze file to `quarantine/bronze/…{name}.bad` with a `.reason.json` beside it."""
    dest = f"quarantine/{relpath}{QUARANTINE_SUFFIX}"
    data = storage.read_bytes(relpath)
    note = {"source": relpath, "reason": reason, "bytes": len(data), "at_ns": time.time_ns()}
    storage.write_atomic(dest, data)
    storage.write_atomic(f"quarantine/{relpath}.reason.json", json.dumps(note).encode())
    storage.delete([relpath])
    return Quarantined(relpath, dest, reason)
