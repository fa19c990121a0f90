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


# docs/design.md §3, Gold `levels.signals.v1` in its order, written out here rather than
# taken from the code under test: the contract's column types are promises to readers.
F64, I64, I32, S, B = pa.float64(), pa.int64(), pa.int32(), pa.string(), pa.bool_()
GOLD_CONTRACT: list[tuple[str, pa.DataType]] = [
    ("ts_event_ns", I64), ("underlying", S), ("spot", F64), ("bid", F64), ("ask", F64),
    ("level_id", S), ("level_kind", S), ("level_price", F64), ("direction", S),
    ("distance", F64), ("break_score_raw", F64), ("break_score_smooth", F64),
    ("signal", S), ("confidence", S),
    ("barrier_state", S), ("barrier_delta_liq", F64), ("barrier_replenishment_ratio", F64),
    ("barrier_added", I32), ("barrier_canceled", I32), ("barrier_filled", I32),
    ("tape_imbalance", F64), ("tape_buy_vol", I64), ("tape_sell_vol", I64),
    ("tape_velocity", F64), ("tape_sweep_detected", B),
    ("fuel_effect", S), ("fuel_net_dealer_gamma", F64), ("fuel_call_wall", F64),
    ("fuel_put_wall", F64),
    ("runway_direction", S), ("runway_next_level_price", F64), ("runway_distance", F64),
    ("runway_quality", S),
    ("ts_recv_ns", I64), ("source", S), ("seq", I64),
]


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
