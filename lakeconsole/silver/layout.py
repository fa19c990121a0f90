"""Which Silver files are current: a per-date manifest names the live generation.

Layout of one (dataset, partition value, date):

    silver/{dataset}/{key}={value}/date=D/_manifest.json          current generation, one PUT
    silver/{dataset}/{key}={value}/date=D/hour=HH/part-NNNNN.parquet

Files of a new generation get sequence numbers that no file in the hour directory
uses yet, so they are written beside the current ones without touching them; the
manifest is replaced last (one atomic write), then the old files are deleted. A reader
that goes through `silver_files` therefore sees the old set or the new set, never a mix.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field

from lakeconsole.contract.schemas import Dataset
from lakeconsole.errors import StorageError
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage

MANIFEST_NAME = "_manifest.json"
LOCK_NAME = "_compaction.lock"
FORMAT_VERSION = 1
_PART = re.compile(r"^part-(\d{5,})\.parquet$")


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
    except (ValueError, TypeError, KeyError) as exc:
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


def hour_files(storage: Storage, dataset: Dataset, value: str, day: str) -> dict[int, list[str]]:
    """Every Silver part file on storage (current, old or left by a crash), by hour."""
    base = date_dir(dataset, value, day)
    out: dict[int, list[str]] = {}
    for info in storage.files(base):
        parts = info.path[len(base) + 1 :].split("/")
        if len(parts) == 2 and parts[0].startswith("hour=") and sequence_of(parts[1]) is not None:
            out.setdefault(int(parts[0].removeprefix("hour=")), []).append(info.path)
    return out


def garbage(storage: Storage, dataset: Dataset, manifest: Manifest) -> list[str]:
    """Part files of the date that the manifest does not name (old or crashed generations)."""
    base = date_dir(dataset, manifest.value, manifest.date)
    current = {f"{base}/{f.path}" for f in manifest.files}
    found = hour_files(storage, dataset, manifest.value, manifest.date)
    return [p for paths in found.values() for p in paths if p not in current]
