"""`lakeconsole coverage`: is the lake complete for a date? One line per dataset, value, hour.

Exit codes: 0 every hour complete (or stale, not compacted, empty, or no data at all for
the date: nothing was lost); 4 some hour has a feed gap or an upstream loss (for cron to
alert on); 2 bad arguments (from cli.main).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime

from lakeconsole.config import Settings
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.ledger.coverage import ALERTING, STATUSES, HourCoverage, compute_coverage

EXIT_ALERT = 4
SHOWN_RANGES = 3  # gap ranges printed per line; --json has them all
PROGRESS_AFTER_S = 1.0  # quiet when the report is quick

_HEAD = ("DATASET", "PARTITION", "HOUR", "STATUS", "BRONZE", "SILVER", "DUPS", "GAPS", "LOST",
         "LATE", "FIRST EVENT (UTC)", "LAST EVENT (UTC)", "GAP RANGES")
_RIGHT = {"BRONZE", "SILVER", "DUPS", "GAPS", "LOST", "LATE"}


def run_coverage(args: argparse.Namespace, settings: Settings) -> int:
    """Print the coverage of a date and a summary; exit 4 when anything was lost."""
    partitioning.check_date(args.date)
    storage = Storage.from_settings(settings.storage)
    hours = compute_coverage(storage, args.date, args.dataset, args.partition,
                             progress=_Progress())
    notes = sys.stderr if args.json else sys.stdout
    if args.json:
        for h in hours:
            print(json.dumps(to_dict(h)), flush=True)
    elif hours:
        print(table(hours))
    print(summary(args.date, hours), file=notes)
    return exit_code(hours)


def to_dict(h: HourCoverage) -> dict[str, object]:
    """The JSON object of one hour: the dataclass's fields, gap ranges as pairs."""
    body = dataclasses.asdict(h)
    body["gap_ranges"] = [list(r) for r in h.gap_ranges]
    return body


def exit_code(hours: list[HourCoverage]) -> int:
    """4 when any hour has a gap or a loss, else 0."""
    return EXIT_ALERT if any(h.status in ALERTING for h in hours) else 0


def table(hours: list[HourCoverage]) -> str:
    """Aligned columns, one line per hour."""
    rows = [_HEAD] + [_cells(h) for h in hours]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD) - 1)]
    lines = []
    for r in rows:
        cells = [c.rjust(w) if _HEAD[i] in _RIGHT else c.ljust(w)
                 for i, (c, w) in enumerate(zip(r, widths, strict=False))]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    return "\n".join(lines)


def _cells(h: HourCoverage) -> tuple[str, ...]:
    return (h.dataset, h.partition, f"{h.hour:02d}", h.status, f"{h.bronze_rows:,}",
            f"{h.silver_rows:,}", f"{h.duplicates:,}", f"{h.feed_gaps:,}", f"{h.lost:,}",
            f"{h.late_rows:,}", when(h.first_ts_ns), when(h.last_ts_ns), _ranges(h))


def when(ts_ns: int | None) -> str:
    """`2026-11-27 14:31:05.123456789` (UTC, every nanosecond), or `-`."""
    if ts_ns is None:
        return "-"
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%d %H:%M:%S}.{nanos:09d}"


def _ranges(h: HourCoverage) -> str:
    shown = [f"{a}" if a == b else f"{a}-{b}" for a, b in h.gap_ranges[:SHOWN_RANGES]]
    more = len(h.gap_ranges) - SHOWN_RANGES
    return ",".join(shown) + (f" (+{more} more)" if more > 0 else "")


def summary(day: str, hours: list[HourCoverage]) -> str:
    """One line: partitions, hours by status, what is missing."""
    if not hours:
        return f"coverage {day}: no data for this date"
    counts = Counter(h.status for h in hours)
    statuses = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    parts = len({(h.dataset, h.partition) for h in hours})
    gaps = {(h.dataset, h.partition, r) for h in hours for r in h.gap_ranges}
    missing = sum(b - a + 1 for _, _, (a, b) in gaps)
    verdict = "ALERT" if exit_code(hours) else "ok"
    return (f"coverage {day}: {verdict}: {len(hours)} hour(s) of {parts} partition(s): "
            f"{statuses}; {missing:,} seq(s) missing in {len(gaps):,} gap(s); "
            f"{sum(h.late_rows for h in hours):,} late row(s)")


class _Progress:
    """`coverage: i/n partitions` on stderr once the report takes a while: rewritten in
    place on a terminal, a line every few seconds otherwise (a cron log)."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int, key: str) -> None:
        now = time.monotonic()
        if now - self.started < PROGRESS_AFTER_S or (not self.tty and now - self.last < 5):
            return
        self.last = now
        text = f"coverage: {done}/{total} partitions, last {key}"
        if self.tty:
            end = "\n" if done == total else ""
            print(f"\r{text[:99]:<99}", end=end, file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)
