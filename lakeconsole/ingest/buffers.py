"""Per-dataset buffers of received messages, and turning one into a table at flush time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from lakeconsole.contract.bulk import BulkDecoder
from lakeconsole.contract.schemas import Dataset
from lakeconsole.contract.wire import Decoded
from lakeconsole.ingest.messages import Delivery
from lakeconsole.lake.quarantine import QuarantineRecord


class Decoder(Protocol):
    """What a buffer needs of BronzeDecoder and GoldDecoder."""

    dataset: Dataset

    def decode(self, data: bytes) -> Decoded: ...
    def to_table(self, events: list[Any], recv_ns: int) -> pa.Table: ...


@dataclass
class Buffer:
    """Messages of one dataset waiting for a flush.

    Single-object messages stay raw (`raw`) and are parsed in bulk at flush time; batch
    messages and Gold payloads are decoded on arrival (`events`). Each row keeps the stream
    sequence of the message that carried it.
    """

    raw: list[bytes] = field(default_factory=list)
    raw_seqs: list[int] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    event_seqs: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    opened: float = 0.0

    def __len__(self) -> int:
        return len(self.raw) + len(self.events)

    def take(self) -> Buffer:
        """Hand the contents to a flush and start empty."""
        taken = Buffer(self.raw, self.raw_seqs, self.events, self.event_seqs,
                       self.deliveries, self.opened)
        self.raw, self.raw_seqs, self.events, self.event_seqs = [], [], [], []
        self.deliveries, self.opened = [], 0.0
        return taken


@dataclass
class Assembled:
    """A buffer made ready to write: rows, each row's stream sequence, and rejects."""

    table: pa.Table
    stream_seqs: list[int]
    rejects: list[QuarantineRecord]
    unknown_fields: int = 0
    quarantine_paths: list[str] = field(default_factory=list)  # set once rejects are written


def assemble(
    subject: str, batch: Buffer, decoder: Decoder, bulk: BulkDecoder | None, recv_ns: int
) -> Assembled:
    """One table of every row in `batch`; runs on the flush thread."""
    out = Assembled(decoder.dataset.schema.empty_table(), [], [])
    parts = []
    if batch.raw:
        table = bulk.decode(batch.raw, recv_ns) if bulk is not None else None
        if table is None:  # something is off: decode one by one for exact reasons
            table = _decode_each(subject, batch, decoder, recv_ns, out)
        else:
            out.stream_seqs.extend(batch.raw_seqs)
        parts.append(table)
    if batch.events:
        parts.append(decoder.to_table(batch.events, recv_ns))
        out.stream_seqs.extend(batch.event_seqs)
    if parts:
        out.table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return out


def _decode_each(
    subject: str, batch: Buffer, decoder: Decoder, recv_ns: int, out: Assembled
) -> pa.Table:
    events: list[Any] = []
    for data, seq in zip(batch.raw, batch.raw_seqs, strict=True):
        decoded = decoder.decode(data)
        out.unknown_fields += decoded.unknown_fields
        events.extend(decoded.events)
        out.stream_seqs.extend(itertools.repeat(seq, len(decoded.events)))
        out.rejects.extend(
            QuarantineRecord(recv_ns, subject, seq, bad.reason, bad.raw) for bad in decoded.bad
        )
    return decoder.to_table(events, recv_ns)
