"""`lakeconsole compact`: Bronze → Silver for one date or all dates, from a script.

Exit codes: 0 all partitions ok or empty; 1 at least one failed; 3 none failed but some
were busy (being compacted elsewhere) or cancelled; 2 bad arguments (from cli.main).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from typing import TextIO

from lakeconsole.config import Settings
from lakeconsole.errors import CompactionError
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.result import CompactionResult


class ProgressBar:
    """A one-line progress bar on a terminal: `[#####.....] 5/10 12,345 rows stocks.trades/…`."""

    def __init__(self, out: TextIO, width: int = 30) -> None:
        self.out = out
        self.width = width
        self._lock = threading.Lock()
        self._rows = 0

    def __call__(self, done: int, total: int, result: CompactionResult | None) -> None:
        filled = self.width * done // total if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        key = result.key if result else ""
        with self._lock:
            self._rows += result.rows_read if result else 0
            self.out.write(f"\r[{bar}] {done}/{total} {self._rows:,} rows {key[:50]:<50}")
            if done == total:
                self.out.write("\n")
            self.out.flush()


def run_compact(args: argparse.Namespace, settings: Settings) -> int:
    """Plan, compact in a bounded pool, print one result per partition and a summary."""
    if args.workers is not None and args.workers < 1:
        raise CompactionError("--workers must be at least 1")
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, settings)
    jobs = compactor.plan(None if args.all_dates else args.date, args.schema, args.partition)
    if not jobs:
        print("nothing to compact: no Bronze data matches", file=sys.stderr)
        return 0
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    started = time.perf_counter()
    results = compactor.compact_many(jobs, progress=bar, workers=args.workers, force=args.force)
    for result in results:
        print(json.dumps(result.to_dict()) if args.json else _line(result), flush=True)
    summary = _summary(results, time.perf_counter() - started)
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return _exit_code(results)


def _line(r: CompactionResult) -> str:
    text = f"{r.status:<9} {r.key}"
    if r.status == "ok" and r.unchanged:
        return (f"{text}  unchanged (generation {r.generation}, {r.silver_rows or 0:,} rows)"
                f"{_iceberg(r)}")
    if r.status in ("ok", "empty"):
        text += (f"  rows {r.rows_read:,} → {r.rows_written:,} "
                 f"(-{r.duplicates_removed:,} duplicates)  {r.files_read} → "
                 f"{r.files_written} files  {r.seconds:.1f}s")
    for q in r.quarantined:
        text += f"\n          quarantined {q.path}: {q.reason}"
    if r.error:
        text += f"  {r.error}"
    return text + _iceberg(r)


def _iceberg(r: CompactionResult) -> str:
    """The Iceberg commit's outcome ([iceberg] enabled), unless there was nothing to do."""
    return "" if r.iceberg in (None, "already current") else f"  iceberg: {r.iceberg}"


def _summary(results: list[CompactionResult], seconds: float) -> str:
    counts = Counter(r.status for r in results)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    total = _totals(results)
    return (f"{len(results)} partitions: {statuses}; rows {total['rows_read']:,} read, "
            f"{total['rows_written']:,} written, {total['duplicates_removed']:,} duplicates "
            f"removed; {total['bytes_read'] / 1e6:.1f} MB → {total['bytes_written'] / 1e6:.1f} MB"
            f"; {seconds:.1f}s")


def _totals(results: list[CompactionResult]) -> dict[str, int]:
    keys = ("rows_read", "rows_written", "duplicates_removed", "bytes_read", "bytes_written")
    return {k: sum(getattr(r, k) for r in results) for k in keys}


def _exit_code(results: list[CompactionResult]) -> int:
    statuses = {r.status for r in results}
    if "failed" in statuses:
        return 1
    if statuses & {"busy", "cancelled"}:
        return 3
    return 0
