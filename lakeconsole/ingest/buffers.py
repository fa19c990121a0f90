"""Per-dataset buffers of received messages, and turning one into a table at flush time."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from lakeconsole.contract.bulk import BulkDecoder
from lakeconsole.contract.limits import EventLimits
from lakeconsole.contract.schemas import Dataset
from lakeconsole.contract.wire import Decoded
from lakeconsole.errors import IngestError, describe
from lakeconsole.ingest.messages import Delivery
from lakeconsole.lake.quarantine import QuarantineRecord

# Below this many rows a failed bulk group goes straight to the exact decoder: halving
# further would cost more Arrow calls than decoding those few rows one by one.
_EXACT_ROWS = 256


class Decoder(Protocol):
    """What a buffer needs of BronzeDecoder and GoldDecoder."""

    dataset: Dataset

    def decode(self, data: bytes) -> Decoded: ...
    def to_table(self, events: list[Any], recv_ns: int) -> pa.Table: ...


@dataclass
class Buffer:
    """Messages of one dataset waiting for a flush.

    Messages the bulk path can take (one object, or a compact array of objects) stay raw
    (`raw`, with the events each carries in `raw_rows`) and are parsed in bulk at flush
    time; other messages and Gold payloads are decoded on arrival (`events`). Each row
    keeps the stream sequence of the message that carried it.
    """

    raw: list[bytes] = field(default_factory=list)
    raw_seqs: list[int] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    event_seqs: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    opened: float = 0.0
    raw_rows: list[int] = field(default_factory=list)
    raw_events: int = 0  # sum(raw_rows), kept so len() stays O(1) on the hot path

    def __len__(self) -> int:
        return self.raw_events + len(self.events)

    def add_raw(self, msg: Delivery, rows: int) -> None:
        """Keep a bulk-path message raw until the flush."""
        self.raw.append(msg.data)
        self.raw_seqs.append(msg.stream_seq)
        self.raw_rows.append(rows)
        self.raw_events += rows
        self.deliveries.append(msg)

    def take(self, max_rows: int | None = None) -> Buffer:
        """Hand the contents to a flush and start empty.

        With `max_rows`, raw messages beyond that many events (whole messages, at least
        one) stay for the next flush: a backlog never decodes into one huge table.
        """
        keep = self._raw_kept(max_rows)
        if keep:
            return self._take_part(keep)
        taken = Buffer(self.raw, self.raw_seqs, self.events, self.event_seqs,
                       self.deliveries, self.opened, self.raw_rows, self.raw_events)
        self.raw, self.raw_seqs, self.events, self.event_seqs = [], [], [], []
        self.deliveries, self.opened, self.raw_rows, self.raw_events = [], 0.0, [], 0
        return taken

    def _raw_kept(self, max_rows: int | None) -> int:
        """How many raw messages (from the end) a take of at most `max_rows` leaves."""
        if max_rows is None or len(self) <= max_rows:
            return 0
        budget, n = max_rows - len(self.events), 0
        for rows in self.raw_rows:
            if n and rows > budget:
                break
            budget -= rows
            n += 1
        return len(self.raw) - n

    def _take_part(self, keep: int) -> Buffer:
        cut = len(self.raw) - keep
        kept_data = self.raw[cut:]
        kept_seqs = self.raw_seqs[cut:]
        kept_rows = self.raw_rows[cut:]
        # Deliveries of the raw messages left behind, matched by identity (a message
        # redelivered into the same buffer has the same sequence twice).
        kept = _raw_deliveries(self.deliveries, kept_data, keep)
        taken_rows = self.raw_events - sum(kept_rows)
        taken = Buffer(
            self.raw[:cut], self.raw_seqs[:cut], self.events, self.event_seqs,
            [d for d in self.deliveries if id(d) not in kept], self.opened,
            self.raw_rows[:cut], taken_rows,
        )
        self.raw, self.raw_seqs, self.raw_rows = kept_data, kept_seqs, kept_rows
        self.raw_events -= taken_rows
        self.events, self.event_seqs = [], []
        self.deliveries = [d for d in self.deliveries if id(d) in kept]
        return taken

    def subset(self, stream_seqs: set[int]) -> Buffer:
        """The part of this buffer that the messages with these stream sequences carried."""
        raw = [(d, s, r) for d, s, r in zip(self.raw, self.raw_seqs, self.raw_rows, strict=True)
               if s in stream_seqs]
        events = [(e, s) for e, s in zip(self.events, self.event_seqs, strict=True)
                  if s in stream_seqs]
        return Buffer(
            [d for d, _, _ in raw], [s for _, s, _ in raw], [e for e, _ in events],
            [s for _, s in events], [d for d in self.deliveries if d.stream_seq in stream_seqs],
            self.opened, [r for _, _, r in raw], sum(r for _, _, r in raw),
        )

    def restore(self, batch: Buffer) -> None:
        """Put a batch that could not be written back, to be flushed again."""
        self.raw.extend(batch.raw)
        self.raw_seqs.extend(batch.raw_seqs)
        self.raw_rows.extend(batch.raw_rows)
        self.raw_events += batch.raw_events
        self.events.extend(batch.events)
        self.event_seqs.extend(batch.event_seqs)
        self.deliveries.extend(batch.deliveries)
        self.opened = self.opened or batch.opened


def _raw_deliveries(deliveries: list[Delivery], tail: list[bytes], n: int) -> set[int]:
    """Identities of the deliveries of the last `n` raw messages (`tail`, in order)."""
    found: list[int] = []
    want = len(tail) - 1
    for d in reversed(deliveries):
        if want < 0:
            break
        if d.data is tail[want]:
            found.append(id(d))
            want -= 1
    if len(found) != n:  # a bug: refuse to ack anything rather than the wrong messages
        raise IngestError("buffer out of step: raw messages without their deliveries")
    return set(found)


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
        self.out = Assembled(decoder.dataset.schema.empty_table(), [], [])

    @functools.cached_property
    def raws(self) -> dict[int, bytes]:
        """Each message's bytes by stream sequence, for the records of rejects only."""
        return {d.stream_seq: d.data for d in self.batch.deliveries}

    def run(self, bulk: BulkDecoder | None, limits: EventLimits) -> Assembled:
        batch, parts = self.batch, list[pa.Table]()
        if batch.raw:
            self._raw_part(bulk, 0, len(batch.raw), parts)
        if batch.events:
            parts.append(self._to_table(batch.events, batch.event_seqs))
        if len(parts) == 1:
            self.out.table = parts[0]
        elif parts:
            self.out.table = pa.concat_tables(parts)
        self._apply_limits(limits)
        return self.out

    def _raw_part(self, bulk: BulkDecoder | None, lo: int, hi: int, parts: list[pa.Table]) -> None:
        """Raw messages [lo, hi) in bulk; if that fails, each half, down to the exact path.

        A bad element thus costs the exact decoder only the few messages around it.
        """
        batch = self.batch
        rows = sum(batch.raw_rows[lo:hi])
        table = None
        if bulk is not None:
            table = bulk.decode(batch.raw[lo:hi], self.recv_ns, rows)
        if table is not None:
            parts.append(table)
            if rows == hi - lo:  # one row per message: no per-message loop
                self.out.stream_seqs.extend(batch.raw_seqs[lo:hi])
                return
            for seq, n in zip(batch.raw_seqs[lo:hi], batch.raw_rows[lo:hi], strict=True):
                self.out.stream_seqs.extend(itertools.repeat(seq, n))
        elif bulk is None or hi - lo == 1 or rows <= _EXACT_ROWS:
            parts.append(self._to_table(*self._decode_each(lo, hi)))
        else:
            mid = (lo + hi) // 2
            self._raw_part(bulk, lo, mid, parts)
            self._raw_part(bulk, mid, hi, parts)

    def _reject(self, stream_seq: int, reason: str, raw: bytes) -> None:
        self.out.rejects.append(
            QuarantineRecord(self.recv_ns, self.subject, stream_seq, reason, raw)
        )

    def _decode_each(self, lo: int, hi: int) -> tuple[list[Any], list[int]]:
        """Raw messages [lo, hi) through the exact per-message decoder."""
        events: list[Any] = []
        seqs: list[int] = []
        for data, seq in zip(self.batch.raw[lo:hi], self.batch.raw_seqs[lo:hi], strict=True):
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
