"""Hive partition paths and file names from rows, and parsing them back."""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.contract.limits import segment
from lakeconsole.contract.schemas import Dataset
from lakeconsole.contract.tiers import Tier
from lakeconsole.errors import LakeError, SchemaError

NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 24 * NS_PER_HOUR
# ts_event_ns is an int64: the last representable instant is 2262-04-11T23:47:16.854775807Z,
# so that day's end (and the next day's bounds) lie past int64. Bounds are Python ints;
# numpy arrays meet them only through `search_ns`, which never narrows them to int64.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, order=True)
class Partition:
    """One leaf directory of a dataset: partition value, UTC date and hour."""

    value: str
    date: str
    hour: int

    def relpath(self, dataset: Dataset, tier: Tier | None = None) -> str:
        """`{tier}/{dataset}/{key}={value}/date=…/hour=HH` relative to the lake root."""
        return f"{date_dir(dataset, self.value, self.date, tier)}/hour={self.hour:02d}"


def dataset_dir(dataset: Dataset, tier: Tier | None = None) -> str:
    """`{tier}/{dataset path}` relative to the lake root."""
    return f"{tier or dataset.tier}/{dataset.path}"


def value_dir(dataset: Dataset, value: str, tier: Tier | None = None) -> str:
    """`{tier}/{dataset}/{key}={value}`; unsafe characters are percent-encoded."""
    return f"{dataset_dir(dataset, tier)}/{segment(dataset.partition_key, value)}"


def date_dir(dataset: Dataset, value: str, day: str, tier: Tier | None = None) -> str:
    """`{tier}/{dataset}/{key}={value}/date=YYYY-MM-DD`."""
    return f"{value_dir(dataset, value, tier)}/date={day}"


def check_date(day: str) -> str:
    """`day` itself when it is a YYYY-MM-DD date; a LakeError naming it otherwise."""
    try:
        date.fromisoformat(day)
    except ValueError:
        raise LakeError(f"not a date (YYYY-MM-DD): {day!r}") from None
    if len(day) != 10:  # fromisoformat also takes 20240102, which no path uses
        raise LakeError(f"not a date (YYYY-MM-DD): {day!r}")
    return day


def hour_of(ts_ns: int) -> tuple[str, int]:
    """UTC (date, hour) of a nanosecond timestamp."""
    dt = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%d"), dt.hour


def day_bounds(day: str) -> tuple[int, int]:
    """[start, end) of a UTC date in nanoseconds, as Python ints (may exceed int64)."""
    d = date.fromisoformat(day)
    start = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 1_000_000_000
    return start, start + NS_PER_DAY


def hours_in_range(day: str, start_ns: int | None, end_ns: int | None) -> list[int]:
    """The hours of `day` that can hold rows in [start_ns, end_ns]."""
    lo, hi = day_bounds(day)
    # int(): a numpy int64 argument compared or subtracted with a bound past int64 overflows.
    first = max(lo, int(start_ns) if start_ns is not None else lo)
    last = min(hi - 1, int(end_ns) if end_ns is not None else hi - 1)
    if first > last:
        return []
    return list(range((first - lo) // NS_PER_HOUR, (last - lo) // NS_PER_HOUR + 1))


def search_ns(ts: np.ndarray[Any, np.dtype[np.int64]], bounds: Sequence[int]) -> list[int]:
    """`np.searchsorted(ts, bounds)` (side left) for bounds that may lie outside int64."""
    clipped = np.array([min(max(b, INT64_MIN), INT64_MAX) for b in bounds], dtype=np.int64)
    found = np.searchsorted(ts, clipped)
    # Every int64 is below a bound past INT64_MAX; clipped to INT64_MAX it would miss that one.
    return [len(ts) if b > INT64_MAX else int(i) for b, i in zip(bounds, found, strict=True)]


def split(table: pa.Table, dataset: Dataset) -> Iterator[tuple[Partition, pa.Table]]:
    """Sort rows and cut them into one table per (partition value, UTC date, hour)."""
    if table.num_rows == 0:
        return
    column = table.column("ts_event_ns")
    if column.null_count:
        raise SchemaError(f"{column.null_count} row(s) of {dataset.name} have no ts_event_ns")
    ts = column.to_numpy()
    # Floor division: Arrow's integer divide truncates toward zero, which would file a
    # row of 1969-12-31 23:59 under 1970-01-01 hour 00, where compaction never looks.
    keyed = table.append_column("__hour", pa.array(ts // NS_PER_HOUR, pa.int64()))
    order: list[tuple[str, Literal["ascending", "descending"]]] = [
        (dataset.partition_key, "ascending"), ("__hour", "ascending")
    ]
    order += [(c, "ascending") for c in dataset.sort_columns]
    ordered = keyed.take(pc.sort_indices(keyed, sort_keys=order))
    codes = ordered.column(dataset.partition_key).combine_chunks().dictionary_encode()
    key_idx = codes.indices.to_numpy(zero_copy_only=False)
    hour_np = ordered.column("__hour").to_numpy()
    change = np.flatnonzero((np.diff(key_idx) != 0) | (np.diff(hour_np) != 0)) + 1
    bounds = [0, *change.tolist(), ordered.num_rows]
    body = ordered.drop_columns(["__hour"])
    for start, stop in itertools.pairwise(bounds):
        value = codes.dictionary[int(key_idx[start])].as_py()
        day, hour = hour_of(int(hour_np[start]) * NS_PER_HOUR)
        yield Partition(value, day, hour), body.slice(start, stop - start)


_counter = itertools.count()
_WRITER_TOKEN = secrets.token_hex(3)


def new_file_name(now: datetime | None = None) -> str:
    """`part-{HHMMSS}_{micro}_{token}.parquet`, unique across writers and processes."""
    now = now or datetime.now(UTC)
    token = f"{_WRITER_TOKEN}{os.getpid() % 0xFFFF:04x}{next(_counter) % 0xFFFF:04x}"
    return f"part-{now:%H%M%S}_{now.microsecond:06d}_{token}.parquet"


def silver_file_name(sequence: int) -> str:
    """`part-{sequence:05d}.parquet`."""
    return f"part-{sequence:05d}.parquet"


_PATH = re.compile(
    r"(?P<tier>[^/]+)/(?P<dataset>[^/]+/[^/]+)/(?P<key>[^/=]+)=(?P<value>[^/]*)"
    r"/date=(?P<date>\d{4}-\d{2}-\d{2})(?:/hour=(?P<hour>\d{2}))?(?:/.*)?$"
)


@dataclass(frozen=True)
class ParsedPath:
    """The parts of a lake path."""

    tier: str
    dataset_path: str
    key: str
    value: str
    date: str
    hour: int | None


def parse(relpath: str) -> ParsedPath | None:
    """Parse a path relative to the lake root; None when it is not a partition path."""
    m = _PATH.search(relpath)
    if not m:
        return None
    hour = m.group("hour")
    return ParsedPath(
        m.group("tier"), m.group("dataset"), m.group("key"),
        unquote(m.group("value")), m.group("date"), int(hour) if hour else None,
    )
