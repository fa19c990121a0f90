"""Cutting sorted Silver rows into per-hour files and writing them in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole.contract.schemas import Dataset
from lakeconsole.lake import partitioning
from lakeconsole.lake.parquet import Encoding, with_metadata, write_parquet
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout
from lakeconsole.silver.params import CompactionParams


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
    # Python-int hour edges: the last day of int64 ends past INT64_MAX.
    edges = partitioning.search_ns(ts, [lo + h * partitioning.NS_PER_HOUR for h in range(25)])
    return {h: (edges[h], edges[h + 1]) for h in range(24) if edges[h] < edges[h + 1]}


def plan_chunks(
    table: pa.Table, day: str, rows_per_file: int, used: dict[int, set[int]]
) -> list[Chunk]:
    """Files of each hour, numbered with sequences that `used[hour]` does not hold."""
    chunks = []
    for hour, (start, stop) in hour_bounds(table, day).items():
        starts = list(range(start, stop, rows_per_file))
        first = layout.free_sequences(used.get(hour, set()), len(starts))
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
    run: str,
) -> list[layout.SilverFile]:
    """Encode and write every chunk under `run`'s pending names (threads: ZSTD drops the GIL).

    Each file's row count comes from its own footer, so the manifest's total, checked
    against the rows compacted, vouches for what the files hold.
    """

    def one(chunk: Chunk) -> layout.SilverFile:
        rows = table.slice(chunk.start, chunk.stop - chunk.start)
        data = encode_silver(rows, dataset, params.encoding)
        storage.write_atomic(f"{base}/{layout.pending_path(chunk.path, run)}", data)
        return layout.SilverFile(chunk.path, pq.read_metadata(pa.BufferReader(data)).num_rows,
                                 len(data))

    with ThreadPoolExecutor(max_workers=max(1, params.threads)) as pool:
        return list(pool.map(one, chunks))


def encode_silver(table: pa.Table, dataset: Dataset, encoding: Encoding) -> bytes:
    """Like `parquet.encode` (same writer, metadata, ZSTD, CRCs), with per-column encodings.

    Trying a dictionary on nanosecond timestamps and sequence numbers is wasted work
    (it always overflows and falls back), so: dictionary for strings and small
    integers, DELTA_BINARY_PACKED for int64 (timestamps, seq: ~40% smaller, 4x faster
    to write), plain for the rest. Readers (Arrow, DuckDB, Spark) need nothing special.
    """
    return write_parquet(
        with_metadata(table, dataset),
        encoding,
        use_dictionary=[f.name for f in dataset.schema if _dictionary_worthy(f.type)],
        column_encoding={f.name: "DELTA_BINARY_PACKED" for f in dataset.schema
                         if pa.types.is_int64(f.type)},
    )


def _dictionary_worthy(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_string(dtype) or pa.types.is_boolean(dtype)
                or pa.types.is_int8(dtype) or pa.types.is_int16(dtype))
