"""Is the lake complete? Per dataset, partition value and UTC hour of one date.

For each (dataset, value, date) with data: Bronze files (row counts and event-time range
from their footers), the Silver manifest (rows per hour), the feeds compaction recorded
(`feeds`), and the upstream losses of the dataset's stream (`losses`). Gold has no Silver:
its rows count as `bronze_rows` (as written) and it is never `not compacted` or `stale`.

Rules:
- Hours reported: from the first to the last hour holding any row or any feed gap of
  the partition; hours between them with no rows are `empty` unless a gap or loss
  touches them.
- A feed gap (seqs missing between two neighbouring rows) touches every hour from the
  event time of the row before it to that of the row after it; each hour it touches
  shows its full count and range, so a gap spanning 13:59 → 15:01 marks 13, 14 and 15.
- A loss of the dataset's stream (MARKET for market.*, LEVELS for levels.*) touches the
  hours that overlap [ts_before_ns, ts_after_ns]. An unknown bound reaches to the edge
  of the known bound's date (unknown before: from 00:00 of ts_after's date; unknown
  after: to 24:00 of ts_before's date); both unknown: the whole date of detected_at_ns.
  A loss may hit any partition of the stream, so it touches them all; `lost` is its
  full count.
- Feed gaps come from the ledger when it describes the current Silver generation;
  otherwise (Silver built before the ledger, or a failed ledger write) they are computed
  from the Silver files, and for Bronze not yet compacted and for Gold from their files.
- Late rows: Bronze files of the hour that the current Silver build did not read (not in
  its recorded inputs, or not of the same version). Without a record: every Bronze row
  counts as late when the Bronze listing no longer matches the build's fingerprint.
- Duplicates: rows of the build's Bronze inputs minus the Silver rows of the hour.
- Status, worst first (STATUSES): loss, gaps, not compacted (Bronze, no Silver yet),
  stale (Bronze arrived after the build), empty, complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole.contract.schemas import DATASETS, Dataset, by_name
from lakeconsole.errors import CorruptFileError, StorageError, describe
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.parquet import lake_metadata
from lakeconsole.lake.storage import FileInfo, Storage
from lakeconsole.ledger import feeds as feedlog
from lakeconsole.ledger.losses import Loss, read_losses
from lakeconsole.silver import bronze_input, layout

# Worst first: the order of the legend, and which status an hour gets when several apply.
STATUSES = ("loss", "gaps", "not compacted", "stale", "empty", "complete")
ALERTING = frozenset({"loss", "gaps"})  # what `coverage` exits 4 for
# Mirrors ingest.bus.DEFAULT_STREAMS, which the core cannot import (it imports nats).
STREAMS = {"market.": "MARKET", "levels.": "LEVELS"}
FOOTER_READS = 8  # footers fetched side by side (on S3 each is a ranged GET)

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class HourCoverage:
    """What the lake holds for one (dataset, partition value, date, hour), and how complete."""

    dataset: str
    partition: str
    date: str
    hour: int
    bronze_rows: int
    silver_rows: int
    duplicates: int
    feed_gaps: int  # missing seq count
    gap_ranges: tuple[tuple[int, int], ...]
    lost: int  # upstream-lost messages touching this hour
    first_ts_ns: int | None
    last_ts_ns: int | None
    late_rows: int
    status: str  # "complete" | "gaps" | "loss" | "not compacted" | "stale" | "empty"


def stream_of(dataset: Dataset) -> str:
    """The default JetStream stream that carries a dataset's subject."""
    for prefix, name in STREAMS.items():
        if dataset.subject.startswith(prefix):
            return name
    return ""


def compute_coverage(
    storage: Storage,
    date: str,
    dataset: str | None = None,
    partition: str | None = None,
    progress: Progress | None = None,
) -> list[HourCoverage]:
    """Coverage of the hours of `date` (optionally one dataset and value), sorted."""
    partitioning.check_date(date)
    datasets = [by_name(dataset)] if dataset else list(DATASETS)
    losses = read_losses(storage)
    jobs = [(ds, v) for ds in datasets for v in _values(storage, ds, partition)]
    out: list[HourCoverage] = []
    for i, (ds, value) in enumerate(jobs, start=1):
        mine = [x for x in losses if x.stream == stream_of(ds)]
        out += _partition(storage, ds, value, date, mine)
        if progress:
            progress(i, len(jobs), f"{ds.name}/{value}")
    return out


def _values(storage: Storage, ds: Dataset, partition: str | None) -> list[str]:
    if partition is not None:
        return [partition]
    found = set(listing.values(storage, ds, ds.tier))
    if ds.tier == "bronze":  # retention may have deleted the Bronze of a compacted value
        found |= set(listing.values(storage, ds, "silver"))
    return sorted(found)


# -- one (dataset, value, date) -------------------------------------------------------------


@dataclass
class _Hour:
    """What one hour's files hold, accumulated."""

    rows: int = 0
    input_rows: int = 0  # rows of the files the current Silver build read
    late: int = 0
    silver: int = 0
    ts: list[int] = field(default_factory=list)
    gaps: list[feedlog.SeqGap] = field(default_factory=list)
    lost: int = 0


@dataclass(frozen=True)
class _Footer:
    hour: int
    rows: int
    ts: tuple[int, ...]  # min and max ts_event_ns, when the footer says


def _partition(
    storage: Storage, ds: Dataset, value: str, day: str, losses: Sequence[Loss]
) -> list[HourCoverage]:
    files = storage.files(partitioning.date_dir(ds, value, day))
    manifest = layout.read_manifest(storage, ds, value, day) if ds.tier == "bronze" else None
    if not files and manifest is None:
        return []
    record = feedlog.read_feeds(storage, ds, value, day) if manifest else None
    current = record is not None and manifest is not None and \
        record.generation == manifest.generation
    late = _late_paths(files, manifest, record if current else None)
    silver_paths = layout.silver_files(storage, ds, value, day) if manifest else []
    hours: dict[int, _Hour] = {}
    for info, foot in zip(files, _footers(storage, [f.path for f in files]), strict=True):
        h = hours.setdefault(foot.hour, _Hour())
        h.rows += foot.rows
        h.ts += foot.ts
        h.late += foot.rows if info.path in late else 0
        h.input_rows += 0 if info.path in late else foot.rows
    for foot in _footers(storage, silver_paths):
        h = hours.setdefault(foot.hour, _Hour())
        h.silver += foot.rows
        h.ts += foot.ts
    feeds = _feeds(storage, ds, value, day, files, silver_paths, record if current else None)
    _assign_gaps(hours, day, feeds)
    _assign_losses(hours, day, losses)
    return [_row(ds, value, day, n, h, manifest is not None) for n, h in sorted(hours.items())]


def _late_paths(
    files: Sequence[FileInfo], manifest: layout.Manifest | None,
    record: feedlog.FeedLedger | None,
) -> set[str]:
    """Bronze files the current Silver build did not read."""
    if manifest is None:
        return set()  # nothing built yet: `not compacted`, not late
    if record is not None:
        return {f.path for f in files if record.bronze_inputs.get(f.path) != f.version}
    # No record of the build's inputs: all or nothing, by the fingerprint.
    if not files or bronze_input.fingerprint(files) == manifest.bronze_fingerprint:
        return set()
    return {f.path for f in files}


def _footers(storage: Storage, paths: Sequence[str]) -> list[_Footer]:
    """Rows, hour and event-time range of each file, from its footer only."""
    def one(path: str) -> _Footer:
        hour = int(path.rsplit("/hour=", 1)[1].split("/", 1)[0])
        try:
            with storage.open(path) as f:
                meta = pq.ParquetFile(f).metadata
        except FileNotFoundError:
            return _Footer(hour, 0, ())  # pruned or quarantined meanwhile
        except (ValueError, pa.ArrowException) as exc:
            raise CorruptFileError(f"cannot read the footer of {storage.url}/{path}: "
                                   f"{describe(exc)}") from exc
        except Exception as exc:  # the filesystem's own errors, whatever their library
            raise StorageError(f"cannot read {storage.url}/{path}: {describe(exc)}") from exc
        kv = lake_metadata(meta.schema.to_arrow_schema())
        ts = tuple(int(kv[k]) for k in ("min_ts_event_ns", "max_ts_event_ns") if kv.get(k))
        return _Footer(hour, meta.num_rows, ts)

    if not paths:
        return []
    with ThreadPoolExecutor(max_workers=1 if storage.is_local else FOOTER_READS) as pool:
        return list(pool.map(one, paths))


def _feeds(
    storage: Storage, ds: Dataset, value: str, day: str, files: Sequence[FileInfo],
    silver_paths: Sequence[str], record: feedlog.FeedLedger | None,
) -> Sequence[feedlog.Feed]:
    if record is not None:
        return record.feeds
    paths = silver_paths if silver_paths else [f.path for f in files]
    return feedlog.feeds_of_files(storage, ds, value, day, paths)


def _assign_gaps(hours: dict[int, _Hour], day: str, feeds: Iterable[feedlog.Feed]) -> None:
    for feed in feeds:
        for gap in feed.gaps:
            lo, hi = sorted((gap.ts_before_ns, gap.ts_after_ns))
            for hour in partitioning.hours_in_range(day, lo, hi):
                hours.setdefault(hour, _Hour()).gaps.append(gap)
    if hours:  # empty hours inside the partition's span are reported too
        for hour in range(min(hours), max(hours) + 1):
            hours.setdefault(hour, _Hour())


def _assign_losses(hours: dict[int, _Hour], day: str, losses: Iterable[Loss]) -> None:
    for loss in losses:
        window = loss_window(loss)
        if window is None:
            continue
        for hour in partitioning.hours_in_range(day, *window):
            if hour in hours:
                hours[hour].lost += loss.count


def loss_window(loss: Loss) -> tuple[int, int] | None:
    """The event-time window [lo, hi] a loss may have hit (see the module's rules)."""
    before, after = loss.ts_before_ns, loss.ts_after_ns
    if before is None and after is None:
        start, end = partitioning.day_bounds(partitioning.hour_of(loss.detected_at_ns)[0])
        return start, end - 1
    if before is None:
        assert after is not None
        return partitioning.day_bounds(partitioning.hour_of(after)[0])[0], after
    if after is None:
        return before, partitioning.day_bounds(partitioning.hour_of(before)[0])[1] - 1
    return min(before, after), max(before, after)


def _row(ds: Dataset, value: str, day: str, hour: int, h: _Hour, built: bool) -> HourCoverage:
    gaps = sorted(set(h.gaps), key=lambda g: g.first)
    missing = sum(g.count for g in gaps)
    duplicates = max(0, h.input_rows - h.silver) if built else 0
    if h.lost:
        status = "loss"
    elif missing:
        status = "gaps"
    elif ds.tier == "bronze" and h.rows and not built:
        status = "not compacted"
    elif h.late:
        status = "stale"
    elif not h.rows and not h.silver:
        status = "empty"
    else:
        status = "complete"
    return HourCoverage(
        ds.name, value, day, hour, h.rows, h.silver, duplicates, missing,
        tuple((g.first, g.last) for g in gaps), h.lost,
        min(h.ts) if h.ts else None, max(h.ts) if h.ts else None, h.late, status,
    )
