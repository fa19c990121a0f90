"""`lakeconsole read`: print the rows of one partition value and UTC date of any tier."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import pandas as pd

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import LakeReader


def run_read(args: argparse.Namespace, settings: Settings) -> int:
    """Read, trim to --limit and print in the chosen format; rows go to stdout, notes to stderr."""
    dataset = by_name(args.schema)  # SchemaError (exit 2) before touching storage
    partitioning.check_date(args.date)
    columns = _columns(args.columns)
    storage = Storage.from_settings(settings.storage)
    reader = LakeReader(storage)
    frame = reader.read(
        args.tier, dataset, args.partition, args.date, args.start_ns, args.end_ns, columns
    )
    total = len(frame)
    if args.limit and total > args.limit:
        frame = frame.head(args.limit)
    write_frame(frame, args.format, sys.stdout)
    files = len(reader.last_scan.files)
    print(f"{len(frame)} of {total} rows from {files} file(s)", file=sys.stderr)
    return 0


def _columns(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def write_frame(frame: pd.DataFrame, fmt: str, out: TextIO) -> None:
    """Print a frame as an aligned table, CSV, or JSON lines (one object per row)."""
    if fmt == "csv":
        frame.to_csv(out, index=False)
    elif fmt == "json":
        if len(frame):
            text = frame.to_json(orient="records", lines=True, force_ascii=False)
            out.write(text if text.endswith("\n") else text + "\n")
    elif frame.empty:
        out.write("(no rows)\n")
    else:
        out.write(frame.to_string(index=False) + "\n")
