"""Upstream losses: stream sequences the lake never received, one record per detected range.

Layout: `{root}/_ledger/losses/stream={STREAM}/{first_seq}-{last_seq}.parquet`, columns
stream, first_seq, last_seq, count, detected_at_ns, ts_before_ns, ts_after_ns, cause.
The file name is a function of the range: two instances detecting the same loss write
the same file (an atomic replace) instead of two records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import pyarrow as pa

from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import store

KIND = "losses"
SCHEMA = pa.schema(
    [  # type: ignore[arg-type]  # the stubs cannot unify the DataType subclasses
        pa.field("stream", pa.string(), nullable=False),
        pa.field("first_seq", pa.int64(), nullable=False),
        pa.field("last_seq", pa.int64(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("detected_at_ns", pa.int64(), nullable=False),
        pa.field("ts_before_ns", pa.int64()),
        pa.field("ts_after_ns", pa.int64()),
        pa.field("cause", pa.string(), nullable=False),
    ],
    metadata={b"lakeconsole.schema_id": b"ledger_losses.v1"},
)


@dataclass(frozen=True)
class Loss:
    """Sequences first_seq..last_seq of a stream never reached the lake."""

    stream: str
    first_seq: int
    last_seq: int
    count: int
    detected_at_ns: int
    ts_before_ns: int | None  # NATS timestamp of the last message received before the loss
    ts_after_ns: int | None  # NATS timestamp of the first message received after it
    cause: str


def loss_path(stream: str, first_seq: int, last_seq: int) -> str:
    """Where the record of one loss lives."""
    return f"{store.stream_dir(KIND, stream)}/{first_seq:020d}-{last_seq:020d}.parquet"


def write_loss(storage: Storage, loss: Loss) -> str:
    """Record one loss durably and atomically; returns its path."""
    path = loss_path(loss.stream, loss.first_seq, loss.last_seq)
    store.write_table(storage, path, pa.Table.from_pylist([asdict(loss)], schema=SCHEMA))
    return path


def read_losses(storage: Storage, stream: str | None = None) -> list[Loss]:
    """Every recorded loss (of one stream, or all), sorted by stream and first_seq.

    Records never overlap: two instances auditing at once can record overlapping
    ranges; a range already covered by an earlier record is trimmed from the later one.
    """
    paths = store.ledger_files(storage, KIND, stream)
    if not paths:
        return []  # the usual answer, without touching Arrow
    rows = store.read_all(storage, paths, SCHEMA).to_pylist()
    found = sorted((Loss(**r) for r in rows), key=lambda x: (x.stream, x.first_seq, -x.last_seq))
    return disjoint(found)


def disjoint(losses: list[Loss]) -> list[Loss]:
    """Sorted losses with the parts already covered by an earlier record removed."""
    out: list[Loss] = []
    for loss in losses:
        prev = out[-1] if out and out[-1].stream == loss.stream else None
        if prev is not None and loss.first_seq <= prev.last_seq:
            if loss.last_seq <= prev.last_seq:
                continue
            first = prev.last_seq + 1
            loss = replace(loss, first_seq=first, count=loss.last_seq - first + 1)
        out.append(loss)
    return out
