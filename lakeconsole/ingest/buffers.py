"""Per-dataset buffers of received messages, and turning one into a table at flush time."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from lakeconsole.contract.bulk import BulkDecoder
from lakeconsole.contract.limits import EventLimits
from lakeconsole.contract.schemas import Dataset
from lakeconsole.contract.wire import Decoded
from lakeconsole.errors import describe
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

    def subset(self, stream_seqs: set[int]) -> Buffer:
        """The part of this buffer that the messages with these stream sequences carried."""
        raw = [(d, s) for d, s in zip(self.raw, self.raw_seqs, strict=True) if s in stream_seqs]
        events = [(e, s) for e, s in zip(self.events, self.event_seqs, strict=True)
                  if s in stream_seqs]
        return Buffer(
            [d for d, _ in raw], [s for _, s in raw], [e for e, _ in events],
            [s for _, s in events], [d for d in self.deliveries if d.stream_seq in stream_seqs],
            self.opened,
        )

    def restore(self, batch: Buffer) -> None:
        """Put a batch that could not be written back, to be flushed again."""
        self.raw.extend(batch.raw)
        self.raw_seqs.extend(batch.raw_seqs)
        self.events.extend(batch.events)
        self.event_seqs.extend(batch.event_seqs)
        self.deliveries.extend(batch.deliveries)
        self.opened = self.opened or batch.opened


@dataclass
class Assembled:
    """A buffer made ready to write: rows, each row's stream sequence, and rejects."""

    table: pa.Table
    stream_seqs: list[int]
    rejects: list[QuarantineRecord]
    unknown_fields: int = 0
    quarantine_paths: list[str] = field(default_factory=list)  # set once rejects are written


def assemble(
    subject: str,
    batch: Buffer,
    decoder: Decoder,
    bulk: BulkDecoder | None,
    recv_ns: int,
    limits: EventLimits,
) -> Assembled:
    """One table of every good row in `batch`, and the rejects; runs on the flush thread."""
    return _Assembly(subject, decoder, recv_ns, batch).run(bulk, limits)


class _Assembly:
    """One buffer being turned into a table; every bad part becomes a quarantine record."""

    def __init__(self, subject: str, decoder: Decoder, recv_ns: int, batch: Buffer) -> None:
        self.subject = subject
        self.decoder = decoder
        self.recv_ns = recv_ns
        self.batch = batch
        self.raws = {d.stream_seq: d.data for d in batch.deliveries}
        self.out = Assembled(decoder.dataset.schema.empty_table(), [], [])

    def run(self, bulk: BulkDecoder | None, limits: EventLimits) -> Assembled:
        batch, parts = self.batch, []
        if batch.raw:
            table = bulk.decode(batch.raw, self.recv_ns) if bulk is not None else None
            if table is None:  # something is off: decode one by one for exact reasons
                table = self._to_table(*self._decode_each())
            else:
                self.out.stream_seqs.extend(batch.raw_seqs)
            parts.append(table)
        if batch.events:
            parts.append(self._to_table(batch.events, batch.event_seqs))
        if parts:
            self.out.table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        self._apply_limits(limits)
        return self.out

    def _reject(self, stream_seq: int, reason: str, raw: bytes) -> None:
        self.out.rejects.append(
            QuarantineRecord(self.recv_ns, self.subject, stream_seq, reason, raw)
        )

    def _decode_each(self) -> tuple[list[Any], list[int]]:
        events: list[Any] = []
        seqs: list[int] = []
        for data, seq in zip(self.batch.raw, self.batch.raw_seqs, strict=True):
            decoded = self.decoder.decode(data)
            self.out.unknown_fields += decoded.unknown_fields
            events.extend(decoded.events)
            seqs.extend(itertools.repeat(seq, len(decoded.events)))
            for bad in decoded.bad:
                self._reject(seq, bad.reason, bad.raw)
        return events, seqs

    def _to_table(self, events: list[Any], seqs: list[int]) -> pa.Table:
        """Events as a table; an event Arrow cannot hold is quarantined, not the batch."""
        try:
            table = self.decoder.to_table(events, self.recv_ns)
        except Exception:
            return self._to_table_each(events, seqs)
        self.out.stream_seqs.extend(seqs)
        return table

    def _to_table_each(self, events: list[Any], seqs: list[int]) -> pa.Table:
        tables = []
        for event, seq in zip(events, seqs, strict=True):
            try:
                tables.append(self.decoder.to_table([event], self.recv_ns))
            except Exception as exc:
                self._reject(seq, f"cannot be stored: {describe(exc)}", self.raws[seq])
                continue
            self.out.stream_seqs.append(seq)
        return pa.concat_tables(tables) if tables else self.decoder.dataset.schema.empty_table()

    def _apply_limits(self, limits: EventLimits) -> None:
        """Move rows outside the event-time range or with unusable partition values aside."""
        out = self.out
        problems = limits.row_problems(out.table, self.decoder.dataset)
        if not problems:
            return
        feed_seqs = out.table.column("seq").to_pylist()
        seen: set[tuple[int, str]] = set()
        for row, why in sorted(problems.items()):
            stream_seq = out.stream_seqs[row]
            if (stream_seq, why) not in seen:  # one record per message and reason
                seen.add((stream_seq, why))
                self._reject(stream_seq, f"{why} (event seq={feed_seqs[row]})",
                             self.raws[stream_seq])
        keep = [i not in problems for i in range(out.table.num_rows)]
        out.table = out.table.filter(pa.array(keep))
        out.stream_seqs = [s for s, k in zip(out.stream_seqs, keep, strict=True) if k]
