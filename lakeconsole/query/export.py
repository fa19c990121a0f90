"""Writing a query result to a local CSV or Parquet file (called from a worker thread)."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def export_path(folder: Path, fmt: str, now: float | None = None) -> Path:
    """`{folder}/query-YYYYmmdd-HHMMSS.{fmt}`, not overwriting an existing file."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = folder / f"query-{stamp}.{fmt}"
    n = 1
    while path.exists():
        path = folder / f"query-{stamp}-{n}.{fmt}"
        n += 1
    return path


def export_table(table: pa.Table, folder: Path, fmt: str) -> Path:
    """Write `table` as csv or parquet into `folder`; returns the file written."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown export format {fmt!r}")
    folder.mkdir(parents=True, exist_ok=True)
    path = export_path(folder, fmt)
    table = table.replace_schema_metadata(None)
    if fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path, compression="zstd")
    return path
