"""Iceberg one-hour scan: does time pruning need a partition transform on ts_event_ns?

    uv run python bench/iceberg_scan.py [--rows-per-hour 100000] [--symbols 4] [--repeat 3]

Builds one Silver day of `stocks.trades` (24 hours, `--symbols` partition values) with
Iceberg on (embedded SQLite catalog, local disk), so compaction registers its per-hour
files in the table, then times, best of `--repeat`:
  (a) lakeconsole's Silver reader for one symbol and one hour (it opens only that hour's
      file: the baseline)
  (b) a pyiceberg scan of the table filtered to the same symbol and hour
      (`symbol == V and ts_event_ns >= h and ts_event_ns < h+1h`): its planner prunes by
      the identity partition on the symbol and by each data file's column bounds
  (c) the same scan for the whole day of that symbol
and prints the data files each plan names, the rows, seconds and the ratio b/a. Why no
hour transform: the table's partition spec is identity on the partition key only;
`ts_event_ns` is int64 nanoseconds, which Iceberg's time transforms do not take (they
want a timestamp type); Silver files are per hour already, so their min/max bounds do
the same pruning, as (b)'s file count shows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakeconsole.config import load_settings  # noqa: E402
from lakeconsole.contract.schemas import by_name  # noqa: E402
from lakeconsole.iceberg import tables  # noqa: E402
from lakeconsole.iceberg.catalog import open_catalog  # noqa: E402
from lakeconsole.lake import partitioning  # noqa: E402
from lakeconsole.lake.batch_writer import PartitionedWriter  # noqa: E402
from lakeconsole.lake.storage import Storage  # noqa: E402
from lakeconsole.query.readers import SilverReader  # noqa: E402
from lakeconsole.silver.compactor import SilverCompactor  # noqa: E402

DAY = "2024-03-01"
DATASET = by_name("stocks.trades")
HOUR = 14  # the hour read


def build(storage: Storage, rows_per_hour: int, symbols: list[str]) -> None:
    """Bronze for every symbol and hour of the day, one batch per hour."""
    rng = np.random.default_rng(7)
    start = partitioning.day_bounds(DAY)[0]
    writer = PartitionedWriter(storage)
    for symbol in symbols:
        for hour in range(24):
            ts = np.sort(start + hour * partitioning.NS_PER_HOUR
                         + rng.integers(0, partitioning.NS_PER_HOUR, rows_per_hour))
            idx = np.arange(rows_per_hour) + hour * rows_per_hour
            writer.write(DATASET, pa.table({
                "ts_event_ns": ts, "ts_recv_ns": ts + 200_000,
                "source": pa.array(["nats"] * rows_per_hour),
                "symbol": pa.array([symbol] * rows_per_hour),
                "price": 500.0 + (idx % 2000) / 100.0,
                "size": (idx % 300 + 1).astype(np.int32),
                "exchange": (idx % 16).astype(np.int16),
                "seq": idx.astype(np.int64),
            }, schema=DATASET.schema))


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The fastest of `repeat` calls, and the last call's value."""
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> int:
    """Build the day, compact it into Iceberg, time the three reads."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows-per-hour", type=int, default=100_000)
    ap.add_argument("--symbols", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    symbols = ["SPY", "QQQ", "IWM", "DIA", "TLT", "GLD"][: args.symbols]
    with tempfile.TemporaryDirectory(prefix="lake-bench-") as tmp:
        settings = load_settings(env={}, overrides={"storage.root": f"{tmp}/lake",
                                                    "iceberg.enabled": True})
        storage = Storage.from_settings(settings.storage)
        build(storage, args.rows_per_hour, symbols)
        compactor = SilverCompactor(storage, settings)
        compactor.compact_many(compactor.plan(DAY))
        table = open_catalog(settings.iceberg, storage, settings.storage).load_table(
            tables.identifier(DATASET))
        lo = partitioning.day_bounds(DAY)[0] + HOUR * partitioning.NS_PER_HOUR
        hi = lo + partitioning.NS_PER_HOUR
        hour_filter = f"symbol == 'SPY' and ts_event_ns >= {lo} and ts_event_ns < {hi}"
        reader = SilverReader(storage)

        def iceberg(row_filter: str) -> pa.Table:
            return table.scan(row_filter=row_filter).to_arrow()

        a, rows_a = best(lambda: reader.read_arrow("silver", DATASET, "SPY", DAY, lo, hi - 1),
                         args.repeat)
        b, rows_b = best(lambda: iceberg(hour_filter), args.repeat)
        c, rows_c = best(lambda: iceberg("symbol == 'SPY'"), args.repeat)
        files_b = len(list(table.scan(row_filter=hour_filter).plan_files()))
        files_c = len(list(table.scan(row_filter="symbol == 'SPY'").plan_files()))
        files_all = len(list(table.scan().plan_files()))
        assert isinstance(rows_a, pa.Table) and isinstance(rows_b, pa.Table)
        assert isinstance(rows_c, pa.Table) and rows_a.num_rows == rows_b.num_rows
        total = args.rows_per_hour * 24 * len(symbols)
        print(f"silver: {total:,} rows, {len(symbols)} symbols x 24 hourly files "
              f"({files_all} data files in the table)")
        print(f"(a) Silver reader, SPY hour {HOUR}:   {rows_a.num_rows:>9,} rows  {a:.3f} s")
        print(f"(b) Iceberg scan, SPY hour {HOUR}:    {rows_b.num_rows:>9,} rows  {b:.3f} s  "
              f"{files_b} of {files_all} files planned")
        print(f"(c) Iceberg scan, SPY whole day: {rows_c.num_rows:>9,} rows  {c:.3f} s  "
              f"{files_c} of {files_all} files planned")
        print(f"b/a = {b / a:.2f}   c/b = {c / b:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
