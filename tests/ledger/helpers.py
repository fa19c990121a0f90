"""Bronze rows with chosen seqs and times, and recorded losses, for the ledger tests."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.ledger.losses import Loss, write_loss

DAY = "2024-03-01"
DAY0 = partitioning.day_bounds(DAY)[0]
HOUR = partitioning.NS_PER_HOUR
MINUTE = 60_000_000_000
TRADES = by_name("stocks.trades")


def at(hour: int, minute: int = 0, ns: int = 0) -> int:
    """An event time on DAY."""
    return DAY0 + hour * HOUR + minute * MINUTE + ns


def trades(
    seqs: Sequence[int], times: Sequence[int], symbol: str = "SPY", source: str = "nats"
) -> pa.Table:
    """stocks.trades rows: the i-th has seq seqs[i] at times[i] (a seq fixes price and size)."""
    rows = [{"ts_event_ns": t, "ts_recv_ns": t + 5, "source": source, "symbol": symbol,
             "price": 500.0 + s % 10_000 / 100, "size": s % 1_000 + 1, "exchange": 1, "seq": s}
            for s, t in zip(seqs, times, strict=True)]
    return pa.Table.from_pylist(rows, schema=TRADES.schema)


def write_bronze(storage: Storage, table: pa.Table) -> None:
    """As the ingest writer would: one file per (value, date, hour)."""
    PartitionedWriter(storage).write(TRADES, table)


def loss(first: int, last: int, before: int | None, after: int | None,
         stream: str = "MARKET", detected: int | None = None) -> Loss:
    """A loss record of `stream`."""
    return Loss(stream, first, last, last - first + 1, detected or at(23), before, after,
                "discarded by the stream's limits")


def record_loss(storage: Storage, lost: Loss) -> None:
    """Record a loss as the loss detector does."""
    write_loss(storage, lost)
