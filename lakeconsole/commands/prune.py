"""`lakeconsole prune`: delete Bronze that Silver holds and old quarantine, past retain_days.

Exit codes: 0 done (or retention off); 1 some partition failed; 3 none failed but some
were busy (being compacted); 2 bad arguments (from cli.main).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import date

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import Dataset, by_name
from lakeconsole.errors import LakeError
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import retention
from lakeconsole.silver.retention import PruneResult


def run_prune(args: argparse.Namespace, settings: Settings) -> int:
    """Prune Bronze and quarantine (or show the plan), one line per partition and a summary."""
    today = _today(args.today)
    datasets = [_bronze(args.dataset)] if args.dataset else None
    bronze_cut = retention.cutoff(today, settings.bronze.retain_days)
    quarantine_cut = retention.cutoff(today, settings.quarantine.retain_days)
    notes = sys.stderr if args.json else sys.stdout
    if bronze_cut is None and quarantine_cut is None:
        print("retention is off ([bronze] and [quarantine] retain_days are 0: keep forever); "
              "nothing deleted", file=notes)
        return 0
    storage = Storage.from_settings(settings.storage)
    results: list[PruneResult] = []
    if bronze_cut is not None:
        results += retention.prune_bronze(storage, bronze_cut, datasets, args.dry_run,
                                          settings.silver.lease_ttl_s)
    if quarantine_cut is not None:
        results += retention.prune_quarantine(storage, quarantine_cut, datasets, args.dry_run)
    for result in results:
        print(json.dumps(result.to_dict()) if args.json else _line(result), flush=True)
    print(_summary(results, settings, bronze_cut, quarantine_cut, args.dry_run), file=notes)
    return _exit_code(results)


def _today(text: str | None) -> date:
    if text is None:
        return retention.today_utc()
    return date.fromisoformat(partitioning.check_date(text))


def _bronze(name: str) -> Dataset:
    ds = by_name(name)
    if ds.tier != "bronze":
        raise LakeError(f"{ds.name} is a {ds.tier} dataset; retention applies to Bronze")
    return ds


def _line(r: PruneResult) -> str:
    text = f"{r.status:<22} {r.tier:<10} {r.key}  {r.files:,} file(s), {r.bytes:,} bytes"
    return f"{text}  {r.detail}" if r.detail else text


def _summary(
    results: list[PruneResult], settings: Settings, bronze_cut: str | None,
    quarantine_cut: str | None, dry_run: bool,
) -> str:
    scope = "; ".join([
        _scope("bronze", settings.bronze.retain_days, bronze_cut),
        _scope("quarantine", settings.quarantine.retain_days, quarantine_cut),
    ])
    counts = Counter(r.status for r in results)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing to do"
    gone = [r for r in results if r.status in ("deleted", "would-delete")]
    verb = "would free" if dry_run else "freed"
    size = f"{verb} {sum(r.files for r in gone):,} file(s), {sum(r.bytes for r in gone):,} bytes"
    tail = "; dry run: nothing was deleted" if dry_run else ""
    return f"prune: {scope}. {len(results)} partition(s): {statuses}; {size}{tail}"


def _scope(tier: str, days: int, cut: str | None) -> str:
    if cut is None:
        return f"{tier} off (retain_days 0)"
    return f"{tier} dates before {cut} (retain_days {days})"


def _exit_code(results: list[PruneResult]) -> int:
    statuses = {r.status for r in results}
    if "failed" in statuses:
        return 1
    return 3 if "busy" in statuses else 0
