"""One lake file's Parquet footer, described: schema, row groups, compression, metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole.errors import CorruptFileError, describe
from lakeconsole.lake.parquet import META_PREFIX

if TYPE_CHECKING:
    from lakeconsole.lake.storage import Storage

# The time column whose per-row-group min/max a file shows: event time, else (quarantine)
# the time the writer rejected the input.
TIME_COLUMNS = ("ts_event_ns", "received_ns")
HIDDEN_KEYS = (b"ARROW:schema",)  # a base64 copy of the schema: noise in a detail pane


@dataclass(frozen=True)
class ColumnInfo:
    """One column: Arrow type, Parquet physical type, compressions and encodings."""

    name: str
    type: str
    physical: str
    compression: str
    encodings: str
    compressed_bytes: int
    uncompressed_bytes: int


@dataclass(frozen=True)
class RowGroupInfo:
    """One row group: rows, bytes and the time column's min/max from its statistics."""

    index: int
    rows: int
    compressed_bytes: int
    uncompressed_bytes: int
    min_ns: int | None
    max_ns: int | None


@dataclass(frozen=True)
class FileDetail:
    """What a lake file's footer says about it."""

    path: str
    size: int
    rows: int
    created_by: str
    format_version: str
    time_column: str | None
    columns: tuple[ColumnInfo, ...]
    row_groups: tuple[RowGroupInfo, ...]
    metadata: tuple[tuple[str, str], ...]

    @property
    def compression(self) -> str:
        """The codecs of every column chunk, e.g. `ZSTD`."""
        return ", ".join(sorted({c for col in self.columns for c in col.compression.split(", ")}))

    @property
    def stream_seqs(self) -> tuple[int, int] | None:
        """The JetStream stream-sequence range the file holds (Bronze and Gold)."""
        meta = dict(self.metadata)
        low = meta.get(META_PREFIX + "stream_seq_min")
        high = meta.get(META_PREFIX + "stream_seq_max")
        if not low or not high:
            return None
        return int(low), int(high)

    @property
    def time_range(self) -> tuple[int | None, int | None]:
        """Min and max of the time column over every row group."""
        lows = [g.min_ns for g in self.row_groups if g.min_ns is not None]
        highs = [g.max_ns for g in self.row_groups if g.max_ns is not None]
        return (min(lows) if lows else None, max(highs) if highs else None)


def describe_file(storage: Storage, path: str) -> FileDetail:
    """Read one file's footer (not its data) through `storage`: local disk or S3."""
    size = _size(storage, path)
    try:
        with storage.open(path) as fh:
            meta = pq.read_metadata(fh)
    except (OSError, ValueError, pa.ArrowException) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise CorruptFileError(f"cannot read the footer of {path}: {describe(exc)}") from exc
    schema = meta.schema.to_arrow_schema()
    time_column = next((c for c in TIME_COLUMNS if c in schema.names), None)
    return FileDetail(
        path=path,
        size=size,
        rows=meta.num_rows,
        created_by=meta.created_by or "",
        format_version=str(meta.format_version),
        time_column=time_column,
        columns=tuple(_columns(meta, schema)),
        row_groups=tuple(_row_group(meta, i, time_column) for i in range(meta.num_row_groups)),
        metadata=tuple(
            (k.decode(errors="replace"), v.decode(errors="replace"))
            for k, v in sorted((meta.metadata or {}).items())
            if k not in HIDDEN_KEYS
        ),
    )


def _size(storage: Storage, path: str) -> int:
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    infos = [f for f in storage.files(parent, suffix="") if f.path == path]
    if not infos:
        raise FileNotFoundError(path)
    return infos[0].size


def _columns(meta: pq.FileMetaData, schema: pa.Schema) -> list[ColumnInfo]:
    out = []
    for i in range(meta.num_columns):
        chunks = [meta.row_group(g).column(i) for g in range(meta.num_row_groups)]
        name = meta.schema.column(i).path  # a nested column is `parent.child`
        out.append(ColumnInfo(
            name=name,
            type=str(schema.field(name).type) if name in schema.names else "",
            physical=meta.schema.column(i).physical_type,
            compression=", ".join(sorted({c.compression for c in chunks})) or "-",
            encodings=", ".join(sorted({e for c in chunks for e in c.encodings})) or "-",
            compressed_bytes=sum(c.total_compressed_size for c in chunks),
            uncompressed_bytes=sum(c.total_uncompressed_size for c in chunks),
        ))
    return out


def _row_group(meta: pq.FileMetaData, index: int, time_column: str | None) -> RowGroupInfo:
    group = meta.row_group(index)
    low = high = None
    if time_column is not None:
        paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
        stats = group.column(paths.index(time_column)).statistics
        if stats is not None and stats.has_min_max:
            low, high = _int(stats.min), _int(stats.max)
    return RowGroupInfo(
        index=index,
        rows=group.num_rows,
        compressed_bytes=sum(group.column(i).total_compressed_size
                             for i in range(group.num_columns)),
        uncompressed_bytes=group.total_byte_size,
        min_ns=low,
        max_ns=high,
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None
