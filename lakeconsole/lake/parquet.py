"""Encoding and decoding of lake Parquet files: sorted, ZSTD, with key/value metadata."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakeconsole import __version__
from lakeconsole.contract.schemas import Dataset

META_PREFIX = "lakeconsole."


@dataclass(frozen=True)
class Encoding:
    """How files are compressed."""

    compression: str = "zstd"
    level: int = 3


def sort_rows(table: pa.Table, dataset: Dataset) -> pa.Table:
    """Rows in (ts_event_ns, seq) order, the order every lake file keeps."""
    keys: list[tuple[str, Literal["ascending", "descending"]]] = [
        (c, "ascending") for c in dataset.sort_columns
    ]
    return table.take(pc.sort_indices(table, sort_keys=keys))


def file_metadata(
    table: pa.Table, dataset: Dataset, seq_range: tuple[int, int] | None = None
) -> dict[str, str]:
    """Key/value metadata every file carries."""
    ts = table.column("ts_event_ns")
    meta = {
        "schema_id": dataset.schema_id,
        "writer_version": __version__,
        "rows": str(table.num_rows),
        "min_ts_event_ns": str(pc.min(ts).as_py()) if table.num_rows else "",
        "max_ts_event_ns": str(pc.max(ts).as_py()) if table.num_rows else "",
    }
    if seq_range is not None:
        meta["stream_seq_min"], meta["stream_seq_max"] = str(seq_range[0]), str(seq_range[1])
    return {META_PREFIX + k: v for k, v in meta.items()}


def encode(
    table: pa.Table,
    dataset: Dataset,
    encoding: Encoding = Encoding(),
    seq_range: tuple[int, int] | None = None,
    presorted: bool = False,
) -> bytes:
    """A complete Parquet file, as bytes, ready for one atomic write."""
    table = table.cast(dataset.schema) if table.schema != dataset.schema else table
    if not presorted:
        table = sort_rows(table, dataset)
    metadata = {k.encode(): v.encode() for k, v in file_metadata(table, dataset, seq_range).items()}
    table = table.replace_schema_metadata({**(dataset.schema.metadata or {}), **metadata})
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression=encoding.compression,  # type: ignore[arg-type]  # validated by config
        compression_level=encoding.level,
        # Statistics on ts_event_ns let readers skip row groups outside a time range.
        write_statistics=True,
    )
    return sink.getvalue()


def read_metadata(source: Any) -> dict[str, str]:
    """The lakeconsole key/value metadata of a file (path or file object)."""
    raw = pq.read_schema(source).metadata or {}
    return {
        k.decode()[len(META_PREFIX) :]: v.decode()
        for k, v in raw.items()
        if k.decode().startswith(META_PREFIX)
    }
