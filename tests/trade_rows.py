"""Helpers that write real Bronze/Gold files through the core writer (no mocks)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from lakeconsole.contract.schemas import Dataset, by_name
from lakeconsole.lake.batch_writer import PartitionedWriter, WrittenFile
from lakeconsole.lake.storage import Storage

DAY = "2024-01-02"
DAY_NS = 1_704_153_600_000_000_000  # 2024-01-02T00:00:00Z
HOUR_NS = 3_600_000_000_000
TRADES = by_name("stocks.trades")


def trades(symbol: str, ts: list[int], seq0: int = 0) -> pa.Table:
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


def write(storage: Storage, dataset: Dataset, table: pa.Table) -> list[WrittenFile]:
    """Write a table through the partitioned writer."""
    return PartitionedWriter(storage).write(dataset, table)


def rows(dataset: Dataset, columns: dict[str, list[Any]]) -> pa.Table:
    """A table of the dataset's schema; absent columns are filled with nulls."""
    n = len(next(iter(columns.values())))
    full = {f.name: columns.get(f.name, [None] * n) for f in dataset.schema}
    return pa.Table.from_pydict(full, schema=dataset.schema)
