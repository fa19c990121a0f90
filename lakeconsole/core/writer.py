"""Writes a batch of rows of one dataset into partitioned, atomic Parquet files."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa

from lakeconsole.core import partitioning
from lakeconsole.core.parquet import Encoding, encode
from lakeconsole.core.schemas import Dataset
from lakeconsole.core.storage import Storage

DEFAULT_ENCODING = Encoding()


@dataclass(frozen=True)
class WrittenFile:
    """One file a flush made visible."""

    path: str
    partition: partitioning.Partition
    rows: int
    bytes: int
    min_ts_ns: int
    max_ts_ns: int


class PartitionedWriter:
    """Cuts a batch by (partition value, date, hour) and publishes one file per piece."""

    def __init__(self, storage: Storage, encoding: Encoding = DEFAULT_ENCODING) -> None:
        self.storage = storage
        self.encoding = encoding

    def write(
        self, dataset: Dataset, table: pa.Table, seq_range: tuple[int, int] | None = None
    ) -> list[WrittenFile]:
        """Write all rows; returns the files in the order they became visible."""
        written = []
        for part, rows in partitioning.split(table, dataset):
            data = encode(rows, dataset, self.encoding, seq_range, presorted=True)
            path = f"{part.relpath(dataset)}/{partitioning.new_file_name()}"
            self.storage.write_atomic(path, data)
            ts = rows.column("ts_event_ns")
            written.append(
                WrittenFile(path, part, rows.num_rows, len(data), ts[0].as_py(), ts[-1].as_py())
            )
        return written


def now_ns() -> int:
    """Wall-clock time in ns (the writer's receive time)."""
    return time.time_ns()
