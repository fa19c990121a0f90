"""Compaction benchmark: a plain DuckDB copy vs SilverCompactor on the same Bronze day.

    uv run python bench/compaction.py [--rows 2000000] [--files 200] [--repeat 3]

Builds one Bronze day of `stocks.trades` for SPY with the project's own writer
(`--files` batches spread over `--hours` hours, `--dup-rate` of the rows redelivered in
a later batch with a later ts_recv_ns), then times, alternating, best of `--repeat`:
  (a) plain: DuckDB read_parquet → ORDER BY ts_event_ns, seq → one ZSTD-3 file, no dedup
  (b) ours:  SilverCompactor.compact_date (dedup, sort, per-hour files, manifest switch)
and prints MB/s of on-disk Bronze for both and the ratio b/a (goal: >= 0.5).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakeconsole.contract.schemas import by_name  # noqa: E402
from lakeconsole.lake import partitioning  # noqa: E402
from lakeconsole.lake.batch_writer import PartitionedWriter  # noqa: E402
from lakeconsole.lake.storage import Storage  # noqa: E402
from lakeconsole.silver.compactor import SilverCompactor  # noqa: E402
from lakeconsole.silver.params import MIB, CompactionParams  # noqa: E402

DAY = "2024-03-01"
DATASET = by_name("stocks.trades")


def build_bronze(storage: Storage, rows: int, files: int, hours: int, dup_rate: float) -> None:
    """Write `rows` trades in `files` time-ordered batches; some rows come again later."""
    rng = np.random.default_rng(7)
    start = partitioning.day_bounds(DAY)[0] + 13 * partitioning.NS_PER_HOUR
    ts = np.sort(start + rng.integers(0, hours * partitioning.NS_PER_HOUR, rows))
    redelivered = np.sort(rng.choice(rows, int(rows * dup_rate), replace=False))
    bounds = np.linspace(0, rows, files + 1).astype(np.int64)
    writer = PartitionedWriter(storage)
    for b in range(files):
        own = np.arange(bounds[b], bounds[b + 1])
        # Redelivery: rows of the previous batch arrive again, 50 ms later.
        prev = redelivered[(redelivered >= bounds[max(0, b - 1)]) & (redelivered < bounds[b])]
        table = pa.concat_tables([_trades(ts, own, 0), _trades(ts, prev, 50_000_000)])
        writer.write(DATASET, table)


def _trades(ts: np.ndarray, idx: np.ndarray, delay_ns: int) -> pa.Table:
    n = len(idx)
    return pa.table(
        {
            "ts_event_ns": ts[idx],
            "ts_recv_ns": ts[idx] + 200_000 + delay_ns,
            "source": pa.array(["nats"] * n),
            "symbol": pa.array(["SPY"] * n),
            "price": 500.0 + (idx % 2000) / 100.0,
            "size": (idx % 300 + 1).astype(np.int32),
            "exchange": (idx % 16).astype(np.int16),
            "seq": idx.astype(np.int64),
        },
        schema=DATASET.schema,
    )


def plain_copy(paths: list[str], out: Path, threads: int) -> None:
    """(a): what any DuckDB user would write first."""
    listing = ", ".join(f"'{p}'" for p in paths)
    with duckdb.connect(config={"threads": threads}) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(
            f"COPY (SELECT * FROM read_parquet([{listing}], hive_partitioning = false) "
            f"ORDER BY ts_event_ns, seq) TO '{out}' "
            "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3)"
        )


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    """Build the Bronze day, time both, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--hours", type=int, default=7)
    ap.add_argument("--dup-rate", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target-mb", type=int, default=256)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lake-bench-") as tmp:
        storage = Storage(f"{tmp}/lake")
        t_build = timed(lambda: build_bronze(storage, args.rows, args.files, args.hours,
                                            args.dup_rate))
        bronze = storage.files(partitioning.date_dir(DATASET, "SPY", DAY, "bronze"))
        mb = sum(f.size for f in bronze) / 1e6
        print(f"bronze: {args.rows:,} rows (+{args.dup_rate:.0%} redelivered) in "
              f"{len(bronze)} files, {mb:.1f} MB on disk, built in {t_build:.1f}s")
        paths = [storage.full(f.path) for f in bronze]
        raw_mb = pq.read_table(paths, partitioning=None).nbytes / 1e6  # in-memory size
        params = CompactionParams(target_file_bytes=args.target_mb * MIB, threads=args.threads)
        compactor = SilverCompactor(storage, params)
        plain, ours, result = [], [], {}
        for _ in range(args.repeat):
            plain.append(timed(lambda: plain_copy(paths, Path(tmp) / "plain.parquet",
                                                  args.threads)))
            started = time.perf_counter()
            result = compactor.compact_date(DAY, "stocks.trades", "SPY", force=True)
            ours.append(time.perf_counter() - started)
        _report(mb, raw_mb, min(plain), min(ours), result)
    return 0


def _report(
    mb: float, raw_mb: float, plain_s: float, ours_s: float, result: dict[str, object]
) -> None:
    print(f"ours: status={result['status']} rows_read={result['rows_read']:,} "
          f"rows_written={result['rows_written']:,} "
          f"duplicates_removed={result['duplicates_removed']:,} "
          f"files_written={result['files_written']}")
    a, b = mb / plain_s, mb / ours_s
    rows = int(str(result["rows_read"]))
    for label, secs, rate in (("(a) plain DuckDB read→sort→ZSTD-3 write", plain_s, a),
                              ("(b) SilverCompactor (dedup+sort+write) ", ours_s, b)):
        print(f"{label}: {secs:6.3f}s  {rate:7.1f} MB/s on disk  "
              f"{raw_mb / secs:7.1f} MB/s uncompressed  {rows / secs / 1e6:5.2f} M rows/s")
    print(f"ratio b/a = {b / a:.2f}  (goal >= 0.5)")


if __name__ == "__main__":
    raise SystemExit(main())
