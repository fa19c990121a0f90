"""Which Silver files are current: a per-date manifest names the live generation.

Layout of one (dataset, partition value, date):

    silver/{dataset}/{key}={value}/date=D/_manifest.json          current generation, one PUT
    silver/{dataset}/{key}={value}/date=D/_compaction.lock        the lease of a running job
    silver/{dataset}/{key}={value}/date=D/hour=HH/part-NNNNN.parquet
    silver/{dataset}/{key}={value}/date=D/hour=HH/.part-NNNNN.parquet.{run}.pending

Invariant: outside a run's switch, the files matching `silver/**/*.parquet` below a date
directory are exactly those its manifest names (none without a manifest): a plain glob
reads what `silver_files`, hence every lakeconsole reader, reads.

A run, holding the partition's lease: (1) `tidy`: delete what the manifest does not name;
(2) write the new generation under pending names (a leading dot and no `.parquet`
suffix: DuckDB globs, Arrow and Spark skip them), numbered apart from the current files;
(3) `switch`: rename them to their final names, then replace the manifest (one atomic
write); (4) `tidy` again: the old generation goes. A failed run removes what it wrote.
Rename is atomic on local disk; S3 has none: a server-side copy, then a delete (two
requests per file, no data through the compactor, copies in parallel, the new
generation briefly stored twice).

What a kill -9 leaves, by step (readers always get one whole generation):
    (2)            pending files only, invisible: glob == reader == old generation.
    (3) renames    new part files visible but unnamed: the glob reads more than the
                   reader; ms on local disk, the copies' duration on S3.
    (3) manifest   atomic: the old generation before, the new one after.
    (4)            old part files still visible: the glob reads both generations.
The next run of the partition takes the dead run's lease (at once on the same host,
after the lease's TTL from another) and its step (1) restores the invariant, even when
Bronze is unchanged and there is nothing to compact. Temp files
in the date directory itself (a killed manifest or lease write, a few hundred bytes)
are left to `Storage.sweep_temp`: merely trying to take the lease creates one there
for an instant, so the lease holder must not delete them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from lakeconsole.contract.schemas import Dataset
from lakeconsole.errors import CompactionError, StorageError
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import TEMP_PREFIX, Storage

MANIFEST_NAME = "_manifest.json"
LOCK_NAME = "_compaction.lock"
# Written by retention before it deletes a date's Bronze: from then on part of the date's
# events exist only in Silver, so a recompaction must read the current Silver too.
PRUNED_NAME = "_bronze_pruned.json"
FORMAT_VERSION = 1
PENDING_SUFFIX = ".pending"
_PART = re.compile(r"^part-(\d{5,})\.parquet$")
_PENDING = re.compile(r"^\.part-\d{5,}\.parquet\.(?P<run>[0-9a-z]+)\.pending$")


@dataclass(frozen=True)
class SilverFile:
    """One file of a generation, path relative to the date directory."""

    path: str  # e.g. "hour=14/part-00003.parquet"
    rows: int
    bytes: int

    @property
    def hour(self) -> int:
        """The UTC hour the file holds."""
        return int(self.path.split("/", 1)[0].removeprefix("hour="))


@dataclass(frozen=True)
class Manifest:
    """The current Silver generation of one (dataset, partition value, date)."""

    schema_id: str
    value: str
    date: str
    generation: int
    files: tuple[SilverFile, ...]
    rows: int
    bronze_fingerprint: str
    created_ns: int = field(default_factory=time.time_ns)
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        # Readers, `unchanged` and the console trust `rows`: it must be what the files hold
        # (an int64 overflow once dropped the last hour's file and kept its rows here).
        held = sum(f.rows for f in self.files)
        if held != self.rows:
            raise CompactionError(f"Silver manifest of {self.value} {self.date} claims "
                                  f"{self.rows} rows but its files hold {held}")

    def to_bytes(self) -> bytes:
        """JSON, one object."""
        body = asdict(self)
        body["files"] = [asdict(f) for f in self.files]
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse what `to_bytes` wrote."""
        body = json.loads(data)
        files = tuple(SilverFile(**f) for f in body.pop("files"))
        return cls(files=files, **body)


def date_dir(dataset: Dataset, value: str, day: str) -> str:
    """`silver/{dataset}/{key}={value}/date=D`."""
    return partitioning.date_dir(dataset, value, day, tier="silver")


def manifest_path(dataset: Dataset, value: str, day: str) -> str:
    """Lake-relative path of the manifest."""
    return f"{date_dir(dataset, value, day)}/{MANIFEST_NAME}"


def read_manifest(storage: Storage, dataset: Dataset, value: str, day: str) -> Manifest | None:
    """The current manifest, or None before the first compaction."""
    path = manifest_path(dataset, value, day)
    try:
        data = storage.read_bytes(path)
    except FileNotFoundError:
        return None
    try:
        return Manifest.from_bytes(data)
    except (ValueError, TypeError, KeyError, CompactionError) as exc:
        raise StorageError(f"unreadable Silver manifest {path}: {exc}") from exc


def write_manifest(storage: Storage, dataset: Dataset, manifest: Manifest) -> None:
    """Switch readers to `manifest`'s generation with one atomic write."""
    storage.write_atomic(manifest_path(dataset, manifest.value, manifest.date), manifest.to_bytes())


def silver_files(
    storage: Storage, dataset: Dataset, value: str, day: str, hours: list[int] | None = None
) -> list[str]:
    """Lake-relative paths of the current Silver files, optionally only some hours."""
    manifest = read_manifest(storage, dataset, value, day)
    if manifest is None:
        # No manifest: nothing was ever switched in; files present are a crashed first run.
        return []
    base = date_dir(dataset, value, day)
    wanted = None if hours is None else set(hours)
    return [f"{base}/{f.path}" for f in manifest.files if wanted is None or f.hour in wanted]


def sequence_of(name: str) -> int | None:
    """The sequence number of a `part-NNNNN.parquet` name; None for other names."""
    m = _PART.match(name)
    return int(m.group(1)) if m else None


def free_sequences(taken: set[int], count: int) -> int:
    """The lowest start s such that s..s+count-1 are all unused (keeps numbers small)."""
    start = 0
    while True:
        clash = [n for n in taken if start <= n < start + count]
        if not clash:
            return start
        start = max(clash) + 1


def sequences_in_use(
    manifest: Manifest | None, kept: Iterable[str] = ()
) -> dict[int, set[int]]:
    """Sequence numbers of the manifest's files (and of `kept` paths relative to the date
    directory: files old Iceberg snapshots still use) by hour: a new generation avoids them."""
    used: dict[int, set[int]] = {}
    paths = [f.path for f in manifest.files] if manifest else []
    for path in [*paths, *kept]:
        hour, _, name = path.rpartition("/")
        sequence = sequence_of(name)
        if sequence is not None and hour.startswith("hour="):
            used.setdefault(int(hour.removeprefix("hour=")), set()).add(sequence)
    return used


def pending_path(path: str, run: str) -> str:
    """Where `run` writes `hour=HH/part-N.parquet` until the switch: hidden, not `.parquet`."""
    hour, _, name = path.rpartition("/")
    return f"{hour}/.{name}.{run}{PENDING_SUFFIX}"


def switch(
    storage: Storage, dataset: Dataset, manifest: Manifest, run: str, workers: int = 1
) -> None:
    """Give `run`'s pending files their final names, then switch readers to `manifest`."""
    base = date_dir(dataset, manifest.value, manifest.date)

    def publish(f: SilverFile) -> None:
        storage.rename(f"{base}/{pending_path(f.path, run)}", f"{base}/{f.path}")

    # On S3 each rename is a server-side copy: run them side by side.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(publish, manifest.files))
    write_manifest(storage, dataset, manifest)


def tidy(
    storage: Storage, dataset: Dataset, value: str, day: str, manifest: Manifest | None,
    keep: Collection[str] = (),
) -> list[str]:
    """Delete the date's files that `manifest` does not name; only the lease holder may.

    That is every `.parquet` file (old or crashed generations: a glob would read them)
    and the pending and temp files of hour directories (which may be a running job's,
    hence the lease). `keep` (lake-relative) spares files that unexpired Iceberg snapshots
    reference: with Iceberg on, the glob may read them, the table and the manifest do not.
    Returns the deleted paths.
    """
    base = date_dir(dataset, value, day)
    named = {f"{base}/{f.path}" for f in manifest.files} if manifest else set()
    named |= set(keep)
    doomed = [info.path for info in storage.files(base, hidden=True)
              if info.path not in named and _debris(info.path[len(base) + 1 :])]
    storage.delete(doomed)
    return doomed


def discard(storage: Storage, dataset: Dataset, value: str, day: str, run: str) -> list[str]:
    """Delete `run`'s pending files only: what a run that lost its lease may clean up."""
    base = date_dir(dataset, value, day)
    doomed = [info.path for info in storage.files(base, hidden=True)
              if _run_of(info.path.rsplit("/", 1)[-1]) == run]
    storage.delete(doomed)
    return doomed


def _debris(relpath: str) -> bool:
    """Whether a file (path relative to the date directory) is not the manifest's to keep."""
    parent, _, name = relpath.rpartition("/")
    if name.endswith(".parquet"):
        return True
    in_hour = parent.startswith("hour=") and "/" not in parent
    return in_hour and (_run_of(name) is not None or name.startswith(TEMP_PREFIX))


def _run_of(name: str) -> str | None:
    """The run that wrote a pending file; None for other names."""
    m = _PENDING.match(name)
    return m.group("run") if m else None
