"""What a row must satisfy beyond its column types: event time range and partition values.

The Arrow schema cannot say that a symbol must fit in a directory name, or that an event
dated 2262 is a producer bug. These checks run on whole decoded tables (vectorised; the
partition check looks at each distinct value once), so the hot path pays almost nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.contract.schemas import Dataset

MAX_SEGMENT_BYTES = 255  # NAME_MAX of common filesystems; S3 keys allow more, disks do not
SAFE = "._-+"  # characters kept as they are in a `key=value` path segment
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_MIN_NS = 0  # 1970-01-01
DEFAULT_MAX_NS = 7_258_118_400 * 1_000_000_000  # 2200-01-01


def segment(key: str, value: str) -> str:
    """The `key=value` directory name of a partition value, percent-encoded."""
    return f"{key}={quote(value, safe=SAFE)}"


def value_problem(key: str, value: str) -> str | None:
    """Why `value` cannot be a partition directory, or None."""
    if _CONTROL.search(value):
        return f"{key} contains control characters"
    size = len(segment(key, value).encode())
    if size > MAX_SEGMENT_BYTES:
        return (f"{key} of {len(value)} characters makes a {size}-byte directory name "
                f"(limit {MAX_SEGMENT_BYTES})")
    return None


def _date(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class EventLimits:
    """The accepted range of ts_event_ns, [min_ns, max_ns)."""

    min_ns: int = DEFAULT_MIN_NS
    max_ns: int = DEFAULT_MAX_NS

    def row_problems(self, table: pa.Table, dataset: Dataset) -> dict[int, str]:
        """Row index → reason, for every row that breaks a limit (usually empty)."""
        problems: dict[int, str] = {}
        if table.num_rows == 0:
            return problems
        ts = table.column("ts_event_ns")
        bounds = pc.min_max(ts)
        if bounds["min"].as_py() < self.min_ns or bounds["max"].as_py() >= self.max_ns:
            values = ts.to_numpy()
            why = (f"ts_event_ns outside the accepted range {_date(self.min_ns)} .. "
                   f"{_date(self.max_ns)} (ingest.min_event_date/max_event_date)")
            for i in np.flatnonzero((values < self.min_ns) | (values >= self.max_ns)):
                problems[int(i)] = why
        problems.update(_bad_values(table, dataset.partition_key))
        return problems


def _bad_values(table: pa.Table, key: str) -> dict[int, str]:
    column = table.column(key)
    reasons = {
        v: why for v in pc.unique(column).to_pylist()
        if isinstance(v, str) and (why := value_problem(key, v)) is not None
    }
    if not reasons:
        return {}
    values: list[Any] = column.to_pylist()
    return {i: reasons[v] for i, v in enumerate(values) if v in reasons}
