"""Reading the Bronze files of one partition and date; damaged files go to quarantine.

Each file is fetched whole (one GET on S3) and decoded from memory by `read_verified`:
page and data CRCs, exact schema, rows and ts range against the file's metadata. So a
failure to decode is the file's fault, never the storage's, and exactly that file is
quarantined; a storage failure (StorageError) fails the job instead.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa

from lakeconsole.contract.schemas import Dataset
from lakeconsole.errors import CorruptFileError
from lakeconsole.lake import partitioning
from lakeconsole.lake.parquet import read_verified
from lakeconsole.lake.storage import FileInfo, Storage
from lakeconsole.silver.result import QuarantinedFile

QUARANTINE_SUFFIX = ".bad"  # not `.parquet`: no reader or glob picks a broken file up
REMOTE_READS = 8  # concurrent GETs on S3: Arrow's default I/O thread count


@dataclass
class BronzeRows:
    """What reading a set of Bronze files gave: the rows, and which files were bad."""

    tables: list[pa.Table]
    read: list[FileInfo]
    bad: list[tuple[FileInfo, str]]


def list_files(storage: Storage, dataset: Dataset, value: str, day: str) -> list[FileInfo]:
    """Visible Bronze files of the partition and date, with their versions."""
    return storage.files(partitioning.date_dir(dataset, value, day, tier="bronze"))


def fingerprint(files: Sequence[FileInfo]) -> str:
    """Identifies a set of Bronze files: same paths, sizes and versions, same Silver."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        h.update(f"{f.path}\0{f.size}\0{f.version}\n".encode())
    return h.hexdigest()


def read_files(
    storage: Storage, dataset: Dataset, files: Sequence[FileInfo], threads: int = 2
) -> BronzeRows:
    """Every file's verified rows; damaged files are reported with the reason, not read."""
    out = BronzeRows([], [], [])
    # Decoding runs outside the GIL: threads read files in parallel. A GET mostly waits
    # on the network, so S3 keeps as many in flight as Arrow's I/O pool (the old path).
    workers = max(1, threads) if storage.is_local else max(threads, REMOTE_READS)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for info, got in zip(files, pool.map(lambda f: _read_one(storage, dataset, f), files),
                             strict=True):
            if isinstance(got, str):
                out.bad.append((info, got))
            elif got is not None:
                out.tables.append(got)
                out.read.append(info)
    return out


def _read_one(storage: Storage, dataset: Dataset, info: FileInfo) -> pa.Table | str | None:
    """The file's rows, the reason it is damaged, or None if it vanished meanwhile."""
    try:
        data = storage.read_bytes(info.path)  # StorageError (storage down) fails the job
    except FileNotFoundError:
        return None
    try:
        return read_verified(data, dataset)
    except CorruptFileError as exc:
        return str(exc)


def quarantine(storage: Storage, relpath: str, reason: str) -> QuarantinedFile:
    """Move a Bronze file to `quarantine/bronze/…{name}.bad` with a `.reason.json` beside it."""
    dest = f"quarantine/{relpath}{QUARANTINE_SUFFIX}"
    data = storage.read_bytes(relpath)
    note = {"source": relpath, "reason": reason, "bytes": len(data), "at_ns": time.time_ns()}
    storage.write_atomic(dest, data)
    storage.write_atomic(f"quarantine/{relpath}.reason.json", json.dumps(note).encode())
    storage.delete([relpath])
    return QuarantinedFile(relpath, dest, reason)
