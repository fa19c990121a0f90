"""Cutting sorted Silver rows into per-hour files and writing them in parallel."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole.contract.schemas import Dataset
from lakeconsole.lake import partitioning
from lakeconsole.lake.parquet import Encoding, file_metadata
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout

if TYPE_CHECKING:
    from lakeconsole.silver.compactor import CompactionParams


@dataclass(frozen=True)
class Chunk:
    """Rows [start, stop) of the sorted table go to `hour=HH/part-{sequence}.parquet`."""

    hour: int
    sequence: int
    start: int
    stop: int

    @property
    def path(self) -> str:
        """Path relative to the date directory."""
        return f"hour={self.hour:02d}/{partitioning.silver_file_name(self.sequence)}"


def hour_bounds(table: pa.Table, day: str) -> dict[int, tuple[int, int]]:
    """Row ranges of each hour present in a table sorted by ts_event_ns, within `day`."""
    lo, _ = partitioning.day_bounds(day)
    ts = table.column("ts_event_ns").to_numpy()
    edges = np.searchsorted(ts, lo + np.arange(25) * partitioning.NS_PER_HOUR)
    return {h: (int(edges[h]), int(edges[h + 1])) for h in range(24) if edges[h] < edges[h + 1]}


def plan_chunks(
    table: pa.Table, day: str, rows_per_file: int, taken: dict[int, list[str]]
) -> list[Chunk]:
    """Files of each hour, numbered with sequences no existing file of the hour uses."""
    chunks = []
    for hour, (start, stop) in hour_bounds(table, day).items():
        starts = list(range(start, stop, rows_per_file))
        used = {layout.sequence_of(p.rsplit("/", 1)[-1]) for p in taken.get(hour, [])}
        first = layout.free_sequences({n for n in used if n is not None}, len(starts))
        for i, s in enumerate(starts):
            chunks.append(Chunk(hour, first + i, s, min(s + rows_per_file, stop)))
    return chunks


def write_chunks(
    storage: Storage,
    dataset: Dataset,
    base: str,
    table: pa.Table,
    chunks: list[Chunk],
    params: CompactionParams,
) -> list[layout.SilverFile]:
    """Encode and write every chunk (ZSTD compression runs outside the GIL: use threads)."""

    def one(chunk: Chunk) -> layout.SilverFile:
        rows = table.slice(chunk.start, chunk.stop - chunk.start)
        data = encode_silver(rows, dataset, params.encoding)
        storage.write_atomic(f"{base}/{chunk.path}", data)
        return layout.SilverFile(chunk.path, rows.num_rows, len(data))

    with ThreadPoolExecutor(max_workers=max(1, params.threads)) as pool:
        return list(pool.map(one, chunks))


def encode_silver(table: pa.Table, dataset: Dataset, encoding: Encoding) -> bytes:
    """Like `parquet.encode` (same metadata, ZSTD), with encodings chosen per column.

    Trying a dictionary on nanosecond timestamps and sequence numbers is wasted work
    (it always overflows and falls back), so: dictionary for strings and small
    integers, DELTA_BINARY_PACKED for int64 (timestamps, seq: ~40% smaller, 4x faster
    to write), plain for the rest. Readers (Arrow, DuckDB, Spark) need nothing special.
    """
    if table.schema != dataset.schema:
        table = table.cast(dataset.schema)
    meta = {k.encode(): v.encode() for k, v in file_metadata(table, dataset).items()}
    table = table.replace_schema_metadata({**(dataset.schema.metadata or {}), **meta})
    options: dict[str, Any] = {  # a dict: pyarrow-stubs know fewer forms than pyarrow takes
        "compression": encoding.compression,
        "compression_level": encoding.level,
        "write_statistics": True,
        "use_dictionary": [f.name for f in dataset.schema if _dictionary_worthy(f.type)],
        "column_encoding": {f.name: "DELTA_BINARY_PACKED" for f in dataset.schema
                            if pa.types.is_int64(f.type)},
    }
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def _dictionary_worthy(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_string(dtype) or pa.types.is_boolean(dtype)
                or pa.types.is_int8(dtype) or pa.types.is_int16(dtype))
