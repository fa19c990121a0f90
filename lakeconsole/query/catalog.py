"""One level of the lake's partition tree at a time, with file counts, sizes and rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow.parquet as pq

from lakeconsole.contract.schemas import Dataset, by_name
from lakeconsole.contract.tiers import TIERS
from lakeconsole.errors import SchemaError, StorageError
from lakeconsole.lake.parquet import META_PREFIX
from lakeconsole.lake.storage import FileInfo, Storage
from lakeconsole.silver.layout import silver_files

LEVELS = ("tier", "asset", "dataset", "value", "date", "hour", "file")
QUARANTINE_LEVELS = ("tier", "dataset", "date", "file")
FOOTER_LIMIT = 500  # hour nodes get a row count only when this many footers or fewer are read


@dataclass(frozen=True)
class CatalogNode:
    """One node of the partition tree: a directory (or file) and what lies below it."""

    name: str
    path: str
    kind: str
    files: int
    bytes: int
    rows: int | None = None
    dataset: str | None = None
    value: str | None = None
    date: str | None = None
    hour: int | None = None
    tier: str | None = None

    @property
    def is_leaf(self) -> bool:
        """Files have no children."""
        return self.kind == "file"


def list_children(storage: Storage, path: str = "") -> list[CatalogNode]:
    """The children of `path` ("" is the root): tiers in TIERS order, the rest by name."""
    parts = [p for p in path.strip("/").split("/") if p]
    if parts and parts[0] not in TIERS:
        raise StorageError(f"not a lake path: {path!r}; tiers are {', '.join(TIERS)}")
    levels = QUARANTINE_LEVELS if parts and parts[0] == "quarantine" else LEVELS
    depth = len(parts)
    if depth >= len(levels):
        return []
    kind = levels[depth]
    groups: dict[str, list[FileInfo]] = defaultdict(list)
    for info in _files_below(storage, parts):
        comps = info.path.split("/")
        if len(comps) > depth and (depth or comps[0] in TIERS):
            groups[comps[depth]].append(info)
    nodes = []
    # Tiers in their natural order (contract.tiers.TIERS), everything below by name.
    order = (lambda n: (TIERS.index(n), n)) if depth == 0 else (lambda n: (0, n))
    for name in sorted(groups, key=order):
        members = groups[name]
        child = [*parts, name]
        rows = _rows(storage, members) if kind in ("hour", "file") else None
        nodes.append(_node(child, kind, members, rows))
    return nodes


def _files_below(storage: Storage, parts: list[str]) -> list[FileInfo]:
    """Visible Parquet files below a path; only the current ones in Silver partitions."""
    infos = storage.files("/".join(parts))
    if len(parts) < 4 or parts[0] != "silver":
        return infos
    ds = _dataset(parts)
    value = _value(parts)
    if ds is None or value is None:
        return infos
    days = {i.path.split("/")[4].removeprefix("date=") for i in infos if i.path.count("/") > 4}
    current = {p for day in days for p in silver_files(storage, ds, value, day)}
    return [i for i in infos if i.path in current]


def _rows(storage: Storage, members: list[FileInfo]) -> int | None:
    """Rows from the files' footers (lakeconsole.rows, else the Parquet row count)."""
    if len(members) > FOOTER_LIMIT:
        return None
    total = 0
    for info in members:
        try:
            with storage.open(info.path) as fh:
                meta = pq.read_metadata(fh)
        except (OSError, ValueError):
            return None
        kv = meta.metadata or {}
        raw = kv.get((META_PREFIX + "rows").encode())
        total += int(raw) if raw else meta.num_rows
    return total


def _node(parts: list[str], kind: str, members: list[FileInfo], rows: int | None) -> CatalogNode:
    quarantine = parts[0] == "quarantine"
    ds = None if quarantine else _dataset(parts)
    dataset = (parts[1] if len(parts) > 1 else None) if quarantine else (ds.name if ds else None)
    date_idx, hour_idx = (2, None) if quarantine else (4, 5)
    return CatalogNode(
        name=parts[-1],
        path="/".join(parts),
        kind=kind,
        files=len(members),
        bytes=sum(m.size for m in members),
        rows=rows,
        dataset=dataset,
        value=None if quarantine else _value(parts),
        date=_strip(parts, date_idx, "date="),
        hour=_hour(parts, hour_idx),
        tier=parts[0],
    )


def _dataset(parts: list[str]) -> Dataset | None:
    if len(parts) < 3:
        return None
    try:
        return by_name(f"{parts[1]}/{parts[2]}")
    except SchemaError:
        return None


def _value(parts: list[str]) -> str | None:
    if len(parts) < 4 or "=" not in parts[3]:
        return None
    return unquote(parts[3].split("=", 1)[1])


def _strip(parts: list[str], idx: int, prefix: str) -> str | None:
    if len(parts) <= idx or not parts[idx].startswith(prefix):
        return None
    return parts[idx].removeprefix(prefix)


def _hour(parts: list[str], idx: int | None) -> int | None:
    text = _strip(parts, idx, "hour=") if idx is not None else None
    return int(text) if text and text.isdigit() else None
