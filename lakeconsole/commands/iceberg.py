"""`lakeconsole iceberg sync`: make the Iceberg tables follow Silver's manifests.

Exit codes: 0 every date current or committed; 1 some date failed; 3 none failed but
some were busy (being compacted; run again); 2 bad arguments or Iceberg off (cli.main).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import Dataset, by_name
from lakeconsole.errors import ConfigError, LakeError
from lakeconsole.lake.storage import Storage


def run_iceberg(args: argparse.Namespace, settings: Settings) -> int:
    """Run `iceberg sync`: one line per (dataset, value, date) and a summary."""
    if not settings.iceberg.enabled:
        raise ConfigError("Iceberg is off: set [iceberg] enabled = true to sync Silver to it")
    from lakeconsole.iceberg.sync import sync  # pyiceberg only when asked for

    datasets = [_bronze(args.dataset)] if args.dataset else None
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


def _bronze(name: str) -> Dataset:
    ds = by_name(name)
    if ds.tier != "bronze":
        raise LakeError(f"{ds.name} is a {ds.tier} dataset; only Silver is synced to Iceberg")
    return ds
