"""Writes a batch of rows of one dataset into partitioned, atomic Parquet files."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.contract.schemas import Dataset
from lakeconsole.errors import StorageError, describe
from lakeconsole.lake import partitioning
from lakeconsole.lake.parquet import Encoding, encode
from lakeconsole.lake.storage import Storage

DEFAULT_ENCODING = Encoding()
GIVE_UP_AFTER = 2  # consecutive failed partitions after which a batch is given back whole
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


class PartialWriteError(StorageError):
    """Some partitions of a batch were written, others failed: retry only the failed rows."""

    def __init__(self, cause: Exception, written: list[WrittenFile], failed_seqs: set[int]):
        super().__init__(describe(cause))
        self.cause = cause
        self.written = written
        self.failed_seqs = failed_seqs


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
        records the exact sequence range it holds, and so that one partition that cannot
        be written does not hold back the others: they are written, and a
        `PartialWriteError` names the stream sequences whose rows were not.
        """
        if stream_seqs is None:
            return [self._write_one(dataset, part, rows, None) for part, rows in
                    partitioning.split(table, dataset)]
        table = table.append_column(STREAM_SEQ, pa.array(stream_seqs, pa.int64()))
        written: list[WrittenFile] = []
        failed: set[int] = set()
        first_error: Exception | None = None
        streak = 0
        for part, rows in partitioning.split(table, dataset):
            seqs = rows.column(STREAM_SEQ)
            if streak >= GIVE_UP_AFTER:  # storage looks down: give the rest back untried
                failed.update(_seqs(seqs))
                continue
            try:
                written.append(self._write_one(dataset, part, rows.drop_columns([STREAM_SEQ]),
                                               _range(seqs)))
                streak = 0
            except Exception as exc:  # whatever failed, only this piece's rows are retried
                first_error = first_error or exc
                failed.update(_seqs(seqs))
                streak += 1
        if first_error is not None:
            raise PartialWriteError(first_error, written, failed)
        return written

    def _write_one(
        self,
        dataset: Dataset,
        part: partitioning.Partition,
        rows: pa.Table,
        seq_range: tuple[int, int] | None,
    ) -> WrittenFile:
        data = encode(rows, dataset, self.encoding, seq_range, presorted=True)
        path = f"{part.relpath(dataset)}/{partitioning.new_file_name()}"
        self.storage.write_atomic(path, data)
        ts = rows.column("ts_event_ns")
        return WrittenFile(path, part, rows.num_rows, len(data), ts[0].as_py(), ts[-1].as_py())


def _seqs(seqs: pa.ChunkedArray) -> list[int]:  # type: ignore[type-arg]
    return [int(s) for s in seqs.to_numpy()]


def _range(seqs: pa.ChunkedArray) -> tuple[int, int]:  # type: ignore[type-arg]
    bounds = pc.min_max(seqs)
    return bounds["min"].as_py(), bounds["max"].as_py()
