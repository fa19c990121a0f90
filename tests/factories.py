"""Factories of real lake rows and files, written through the core writers (no mocks)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lakeconsole.contract.schemas import Dataset, by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter, WrittenFile
from lakeconsole.lake.parquet import encode
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.layout import Manifest, SilverFile, write_manifest

BASE_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
DAY = "2024-01-02"
DAY_NS = 1_704_153_600_000_000_000  # 2024-01-02T00:00:00Z
HOUR_NS = 3_600_000_000_000
TRADES = by_name("stocks.trades")


def trade_table(symbol: str, ts: list[int], seq0: int = 0) -> pa.Table:
    """stocks.trades rows, one per timestamp; price and size derived from the position."""
    n = len(ts)
    return pa.Table.from_pydict(
        {
            "ts_event_ns": ts,
            "ts_recv_ns": [t + 1_000 for t in ts],
            "source": ["test"] * n,
            "symbol": [symbol] * n,
            "price": [100.0 + i / 100 for i in range(n)],
            "size": [seq0 + i + 1 for i in range(n)],
            "exchange": [3] * n,
            "seq": [seq0 + i for i in range(n)],
        },
        schema=TRADES.schema,
    )


def trades(n: int, symbol: str = "SPY", start_ns: int = BASE_NS, step_ns: int = 1_000) -> pa.Table:
    """`n` stock trades of one symbol, `step_ns` apart."""
    return trade_table(symbol, [start_ns + i * step_ns for i in range(n)])


def write(storage: Storage, table: pa.Table, dataset: str | Dataset = "stocks.trades",
          tier: str | None = None) -> list[WrittenFile]:
    """Write rows as the ingest writer would (Silver: one generation with a manifest)."""
    ds = by_name(dataset) if isinstance(dataset, str) else dataset
    if tier == "silver":
        return write_silver(storage, table, ds)
    return PartitionedWriter(storage).write(ds, table, list(range(table.num_rows)))


def rows(dataset: Dataset, columns: dict[str, list[Any]]) -> pa.Table:
    """A table of the dataset's schema; absent columns are filled with nulls."""
    n = len(next(iter(columns.values())))
    full = {f.name: columns.get(f.name, [None] * n) for f in dataset.schema}
    return pa.Table.from_pydict(full, schema=dataset.schema)


def write_silver(storage: Storage, table: pa.Table, ds: Dataset) -> list[WrittenFile]:
    """One Silver generation per (value, date): part-00000 per hour, then the manifest."""
    pieces: dict[tuple[str, str], list[tuple[partitioning.Partition, pa.Table]]] = {}
    for part, rows in partitioning.split(table, ds):
        pieces.setdefault((part.value, part.date), []).append((part, rows))
    written = []
    for (value, day), parts in pieces.items():
        files = []
        for part, rows in parts:
            data = encode(rows, ds, presorted=True)
            rel = f"hour={part.hour:02d}/{partitioning.silver_file_name(0)}"
            path = f"{partitioning.date_dir(ds, value, day, 'silver')}/{rel}"
            storage.write_atomic(path, data)
            files.append(SilverFile(rel, rows.num_rows, len(data)))
            ts = rows.column("ts_event_ns")
            written.append(WrittenFile(path, part, rows.num_rows, len(data), ts[0].as_py(),
                                       ts[-1].as_py()))
        manifest = Manifest(ds.schema_id, value, day, 1, tuple(files),
                            sum(f.rows for f in files), "test")
        write_manifest(storage, ds, manifest)
    return written


def quarantine(storage: Storage, n: int = 2) -> list[str]:
    """`n` bad messages in the quarantine tier."""
    records = [QuarantineRecord(BASE_NS, "market.stocks.trades", i, "bad json", b"{")
               for i in range(n)]
    return write_records(storage, records)
