"""Writes a batch of rows of one dataset into partitioned, atomic Parquet files."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.contract.schemas import Dataset
from lakeconsole.lake import partitioning
from lakeconsole.lake.parquet import Encoding, encode
from lakeconsole.lake.storage import Storage

DEFAULT_ENCODING = Encoding()
STREAM_SEQ = "__stream_seq"  # a transient column: never written to a file


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
        self, dataset: Dataset, table: pa.Table, stream_seqs: list[int] | None = None
    ) -> list[WrittenFile]:
        """Write all rows; returns the files in the order they became visible.

        `stream_seqs` gives each row's JetStream stream sequence, so that every file
        records the exact sequence range it holds.
        """
        if stream_seqs is not None:
            table = table.append_column(STREAM_SEQ, pa.array(stream_seqs, pa.int64()))
        written = []
        for part, rows in partitioning.split(table, dataset):
            seq_range = None
            if stream_seqs is not None:
                bounds = pc.min_max(rows.column(STREAM_SEQ))
                seq_range = (bounds["min"].as_py(), bounds["max"].as_py())
                rows = rows.drop_columns([STREAM_SEQ])
            data = encode(rows, dataset, self.encoding, seq_range, presorted=True)
            path = f"{part.relpath(dataset)}/{partitioning.new_file_name()}"
            self.storage.write_atomic(path, data)
            ts = rows.column("ts_event_ns")
            written.append(
                WrittenFile(path, part, rows.num_rows, len(data), ts[0].as_py(), ts[-1].as_py())
            )
        return written
