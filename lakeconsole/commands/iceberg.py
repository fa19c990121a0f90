"""`lakeconsole iceberg sync` and `iceberg history`.

sync makes the Iceberg tables follow Silver's manifests. Exit codes: 0 every date current
or committed; 1 some date failed; 3 none failed but some were busy (being compacted; run
again); 2 bad arguments or Iceberg off (cli.main). history lists each table's snapshots.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from datetime import UTC, datetime

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import bronze_datasets, by_name, gold_datasets
from lakeconsole.errors import ConfigError
from lakeconsole.lake.storage import Storage


def run_iceberg(args: argparse.Namespace, settings: Settings) -> int:
    """Run `iceberg sync` or `iceberg history`."""
    if not settings.iceberg.enabled:
        raise ConfigError("Iceberg is off: set [iceberg] enabled = true to use its tables")
    if args.iceberg_command == "history":
        return _history(args, settings)
    return _sync(args, settings)


def _history(args: argparse.Namespace, settings: Settings) -> int:
    """One line per live snapshot of each table (Silver datasets, then Gold), newest first."""
    from lakeconsole.iceberg.history import history  # pyiceberg only when asked for
    from lakeconsole.iceberg.silver import SilverTables

    silver = SilverTables(Storage.from_settings(settings.storage), settings)
    datasets = [by_name(args.dataset)] if args.dataset else [*bronze_datasets(),
                                                              *gold_datasets()]
    for ds in datasets:
        for e in history(silver, ds):
            if args.json:
                print(json.dumps(dataclasses.asdict(e)), flush=True)
                continue
            at = datetime.fromtimestamp(e.committed_ms / 1000, UTC)
            print(f"{'*' if e.current else ' '} {e.table:<24} {e.snapshot_id:>20}  "
                  f"{at:%Y-%m-%d %H:%M:%S} UTC  {e.operation:<9} +{e.added_files} "
                  f"-{e.deleted_files} files  +{e.added_rows:,} -{e.deleted_rows:,} rows  "
                  f"total {e.total_rows:,}", flush=True)
    return 0


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    """One line per (dataset, value, date) and a summary."""
    from lakeconsole.iceberg.sync import sync  # pyiceberg only when asked for

    datasets = [by_name(args.dataset)] if args.dataset else None
    results = sync(Storage.from_settings(settings.storage), settings, datasets)
    for r in results:
        if args.json:
            print(json.dumps(dataclasses.asdict(r)), flush=True)
        else:
            extra = f", {r.deleted} unreferenced file(s) deleted" if r.deleted else ""
            print(f"{r.status:<10} {r.key}  {r.detail}{extra}", flush=True)
    counts = Counter(r.status for r in results)
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no Silver dates"
    print(f"iceberg sync: {len(results)} date(s): {summary}",
          file=sys.stderr if args.json else sys.stdout)
    if counts["failed"]:
        return 1
    return 3 if counts["busy"] else 0
