"""The quarantine tier: bad input kept with its raw bytes and the reason, never dropped."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pyarrow as pa

from lakeconsole.lake import partitioning
from lakeconsole.lake.parquet import Encoding, write_parquet
from lakeconsole.lake.storage import Storage

SCHEMA = pa.schema(
    [  # type: ignore[arg-type]  # the stubs cannot unify the DataType subclasses
        ("received_ns", pa.int64()),
        ("subject", pa.string()),
        ("stream_seq", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.binary()),
    ],
    metadata={b"lakeconsole.schema_id": b"quarantine.v1"},
)


@dataclass(frozen=True)
class QuarantineRecord:
    """One bad message, or one bad element of a batch message."""

    received_ns: int
    subject: str
    stream_seq: int
    reason: str
    raw: bytes


def write_records(
    storage: Storage, records: list[QuarantineRecord], encoding: Encoding | None = None
) -> list[str]:
    """Write records as `quarantine/{subject}/date=YYYY-MM-DD/part-….parquet`; returns paths."""
    groups: dict[tuple[str, str], list[QuarantineRecord]] = {}
    for r in records:
        day, _ = partitioning.hour_of(r.received_ns)
        groups.setdefault((r.subject, day), []).append(r)
    paths = []
    for (subject, day), rows in sorted(groups.items()):
        table = pa.Table.from_pylist([r.__dict__ for r in rows], schema=SCHEMA)
        data = write_parquet(table, encoding or Encoding())
        path = (
            f"quarantine/{quote(subject, safe='._-') or '_unknown'}/date={day}/"
            f"{partitioning.new_file_name()}"
        )
        storage.write_atomic(path, data)
        paths.append(path)
    return paths
