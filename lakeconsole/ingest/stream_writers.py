"""BronzeWriter and GoldWriter: JetStream messages → micro-batched, durable Parquet, then ack.

A message is acked only after every row it carried is in a durable file (or, for bad
input, in a durable quarantine file). A crash at any point therefore duplicates rows on
redelivery but never loses an acked event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.contract.bulk import BulkDecoder, bulk_rows
from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.limits import EventLimits
from lakeconsole.contract.schemas import DATASETS, Dataset
from lakeconsole.contract.tiers import Tier
from lakeconsole.contract.wire import BronzeDecoder
from lakeconsole.errors import StorageError, describe
from lakeconsole.ingest.buffers import Assembled, Buffer, Decoder, assemble
from lakeconsole.ingest.bus import NATSBus, StreamLimits
from lakeconsole.ingest.completeness import audit_stream, record_received
from lakeconsole.ingest.consumer import PullConsumer
from lakeconsole.ingest.messages import Delivery
from lakeconsole.lake.batch_writer import PartialWriteError, PartitionedWriter, WrittenFile
from lakeconsole.lake.parquet import Encoding
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage
from lakeconsole.ops.backoff import Backoff

log = logging.getLogger(__name__)
_FLUSH_IDS = itertools.count(1)
Emit = Callable[[ev.Event], None]


@dataclass(frozen=True)
class WriterSpec:
    """What distinguishes the Bronze writer from the Gold writer."""

    tier: Tier
    stream_subjects: str  # the consumer's filter: everything on the stream, so strays are seen
    max_events: int
    max_age_s: float
    durable: str


@dataclass
class FlushOutcome:
    """What one flush wrote, and the stream sequences whose rows it could not write."""

    files: list[WrittenFile]
    ready: Assembled
    failed_seqs: set[int] = field(default_factory=set)
    error: Exception | None = None


class StreamWriter:
    """One durable pull consumer feeding per-dataset buffers that flush to storage.

    Every boundary where third-party code runs (decoding, Arrow, storage, NATS) catches
    whatever it raises: a message is then quarantined, or given back to NATS with a
    growing delay and its credit released; no failure leaks credit or stops a loop.
    """

    def __init__(self, spec: WriterSpec, storage: Storage, settings: Settings, emit: Emit) -> None:
        self.spec = spec
        self.storage = storage
        self.settings = settings
        self.emit = emit
        self.writer = PartitionedWriter(
            storage, Encoding(settings.parquet.compression, settings.parquet.compression_level)
        )
        self.limits = EventLimits(*settings.ingest.event_ns_range())
        self.datasets = {d.subject: d for d in DATASETS if d.tier == spec.tier}
        self.decoders: dict[str, Decoder] = {s: _decoder(d) for s, d in self.datasets.items()}
        self.bulk = {s: BulkDecoder(d) for s, d in self.datasets.items() if d.tier == "bronze"}
        self.buffers = {s: Buffer() for s in self.datasets}
        # Read once: `_receive` runs per message, on the thread that reads the socket.
        self.max_message_bytes = settings.nats.max_message_bytes
        self.flush_rows = max(1, settings.ingest.max_flush_rows // 2)  # see `_start_flush`
        self.names = {s: d.name for s, d in self.datasets.items()}
        self.flushing: dict[str, asyncio.Task[None]] = {}
        self.overlap: dict[str, asyncio.Task[None]] = {}  # second flushes of a backlog
        self.quarantine: list[QuarantineRecord] = []
        self.quarantine_acks: list[Delivery] = []
        self.quarantine_lock = asyncio.Lock()
        self.received: dict[str, int] = dict.fromkeys(self.names.values(), 0)
        self.unknown_fields = 0
        self.consumer: PullConsumer | None = None
        self.stream = ""
        self._ticker: asyncio.Task[None] | None = None
        self._stopping = False  # failed flushes keep their batch to retry, instead of a nak
        self.decoding_rows = 0  # rows of the flushes being decoded and written now
        self.decoded_rows_peak = 0  # most rows ever held decoded at once (see _note_decoded)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, bus: NATSBus) -> None:
        """Bind the durable consumer and start flushing on size and age."""
        nats = self.settings.nats
        limits = StreamLimits(nats.stream_max_age_s, nats.stream_max_bytes)
        streams = await bus.ensure_streams(list(self.datasets), limits)
        self.stream = streams[next(iter(self.datasets))]
        # Before consuming: what the stream discarded while we were stopped is still
        # below its first sequence and above what the durable delivered: an exact range.
        await audit_stream(bus, self.storage, self.stream, self.spec.durable, self.emit)
        self.consumer = await bus.pull_consumer(
            self.stream,
            self.spec.durable,
            [self.spec.stream_subjects],
            self._on_message,
            credit=nats.max_ack_pending,
            ack_wait=nats.ack_wait_s,
            max_ack_pending=nats.max_ack_pending,
            max_bytes=nats.max_inflight_mb * 1024 * 1024,
        )
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self, grace_s: float = 0.0) -> int:
        """Stop pulling, flush (retrying for up to `grace_s` while storage fails), ack.

        Returns how many messages could not be written; they are given back to NATS.
        """
        if self.consumer is not None:
            await self.consumer.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._stopping = True
        deadline = time.monotonic() + grace_s
        backoff = Backoff(0.5, 5.0)
        while True:
            await self.flush_all()
            left = self._unwritten()
            remaining = deadline - time.monotonic()
            if not left or remaining <= 0:
                break
            pause = min(backoff.next(), remaining)
            # One warning when the final flush starts failing; the later tries at debug.
            log.log(logging.WARNING if backoff.attempts == 1 else logging.DEBUG,
                    "stopping: %d %s messages not written yet; retrying with backoff for up "
                    "to %.0f s", left, self.spec.tier, remaining)
            await asyncio.sleep(pause)
        if left:
            await self._nak(self._take_unwritten())
        self._report()  # final counts: empty buffers, and what the last flushes counted
        return left

    async def flush_all(self) -> None:
        """Flush every non-empty buffer and the quarantine now."""
        await asyncio.gather(*self.flushing.values(), *self.overlap.values(),
                             return_exceptions=True)
        for subject, buf in self.buffers.items():
            # A flush takes at most half of ingest.max_flush_rows: repeat until empty or failing.
            while buf.deliveries and await self._flush(subject):
                pass
        await self._flush_quarantine()

    def buffered(self) -> dict[str, int]:
        """Events waiting per dataset name."""
        return {self.names[s]: len(b) for s, b in self.buffers.items()}

    def _unwritten(self) -> int:
        return sum(len(b.deliveries) for b in self.buffers.values()) + len(self.quarantine_acks)

    def _take_unwritten(self) -> list[Delivery]:
        left = [d for b in self.buffers.values() for d in b.take().deliveries]
        left += self.quarantine_acks
        self.quarantine, self.quarantine_acks = [], []
        return left

    # -- receiving -------------------------------------------------------------------

    def _on_message(self, msg: Delivery) -> None:
        """Buffer a message (decoded now, or raw for the bulk path); never raises."""
        try:
            self._receive(msg)
        except Exception as exc:  # a decoder bug must quarantine the message, not loop it
            self._reject(msg, f"cannot be handled: {describe(exc)}", [msg.data], ack=True)

    def _receive(self, msg: Delivery) -> None:
        subject, data = msg.subject, msg.data
        if subject not in self.decoders:
            self._reject(msg, f"unknown subject {_clip(subject)!r}", [data], ack=True)
            return
        if len(data) > self.max_message_bytes:
            limit = self.max_message_bytes
            reason = f"message of {len(data)} bytes exceeds nats.max_message_bytes={limit}"
            self._reject(msg, reason, [data], ack=True)
            return
        buf = self.buffers[subject]
        if not buf.deliveries:
            buf.opened = time.monotonic()
        rows = bulk_rows(data) if subject in self.bulk else 0
        if rows:
            # The hot path: keep the bytes; the flush thread parses them all at once.
            buf.add_raw(msg, rows)
            self.received[self.names[subject]] += rows
        else:
            self._decode_now(msg, buf)
        held = len(buf)
        # `_start_flush`'s own test, first, inline: while a flush runs, most messages
        # arrive below the overlap size, and a call per message shows in the throughput.
        if held >= self.spec.max_events and (subject not in self.flushing
                                             or held >= self.flush_rows):
            self._start_flush(subject)

    def _decode_now(self, msg: Delivery, buf: Buffer) -> None:
        decoded = self.decoders[msg.subject].decode(msg.data)
        self.unknown_fields += decoded.unknown_fields
        for bad in decoded.bad:
            self._reject(msg, bad.reason, [bad.raw], ack=not decoded.events)
        if not decoded.events and not decoded.bad:
            # `[]` or a payload without levels: nothing to write, but it must be acked,
            # and a record of it is kept rather than dropping it silently.
            self._reject(msg, "the message holds no events", [msg.data], ack=True)
        if decoded.events:
            buf.events.extend(decoded.events)
            buf.event_seqs.extend(itertools.repeat(msg.stream_seq, len(decoded.events)))
            buf.deliveries.append(msg)
            self.received[self.names[msg.subject]] += len(decoded.events)
            self._note_decoded()

    def _reject(self, msg: Delivery, reason: str, raws: list[bytes], ack: bool) -> None:
        now = time.time_ns()
        for raw in raws:
            self.quarantine.append(
                QuarantineRecord(now, msg.subject, msg.stream_seq, reason, raw)
            )
        if ack:
            self.quarantine_acks.append(msg)

    # -- flushing --------------------------------------------------------------------

    def _start_flush(self, subject: str) -> None:
        tasks = self.flushing
        if subject in tasks:
            # A backlog: a second flush decodes and writes the next rows meanwhile, so
            # both cores work; each takes half of ingest.max_flush_rows (`flush_rows`).
            if len(self.buffers[subject]) < self.flush_rows or subject in self.overlap:
                return  # the running flush re-checks the buffer when it ends
            tasks = self.overlap
        task = asyncio.get_running_loop().create_task(self._flush_task(subject, tasks))
        tasks[subject] = task

    async def _flush_task(
        self, subject: str, tasks: dict[str, asyncio.Task[None]] | None = None
    ) -> None:
        """Flush once, then again while the buffer refilled past max_events meanwhile."""
        try:
            while await self._flush(subject):
                if len(self.buffers[subject]) < self.spec.max_events:
                    break
        except Exception as exc:  # _flush handles failures itself; this is the last guard
            self._loop_failed(f"flush {self.names[subject]}", exc)
        finally:
            (self.flushing if tasks is None else tasks).pop(subject, None)

    async def _tick(self) -> None:
        """Flush buffers that are old enough, even when no message arrives; never dies."""
        interval = min(0.25, self.spec.max_age_s / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._tick_once()
            except Exception as exc:
                self._loop_failed(f"{self.spec.tier} age flush", exc)

    async def _tick_once(self) -> None:
        now = time.monotonic()
        for subject, buf in self.buffers.items():
            if buf.deliveries and now - buf.opened >= self.spec.max_age_s:
                self._start_flush(subject)
        if self.quarantine and not self.quarantine_lock.locked():
            await self._flush_quarantine()
        self._report()

    def _loop_failed(self, where: str, exc: Exception) -> None:
        # The event is the report (headless logs it); a second line would repeat it.
        log.debug("%s: unexpected %s", where, describe(exc))
        self.emit(ev.ErrorRaised(where, describe(exc)))

    async def _flush(self, subject: str) -> bool:
        """Write the buffer's rows, then ack; False when some messages were not written."""
        batch = self.buffers[subject].take(self.flush_rows)
        if not batch.deliveries:
            return True
        dataset = self.datasets[subject]
        where = f"flush {dataset.name}"
        # Bad parts of mixed messages must be durable before those messages are acked.
        if not await self._flush_quarantine():
            error = StorageError("the quarantine write failed")
            return await self._failed(subject, batch, batch.deliveries, where, error)
        started = time.perf_counter()
        try:
            outcome = await self._decode_and_write(subject, batch)
        except Exception as exc:  # whatever failed (storage, Arrow, a bug): nothing is acked
            return await self._failed(subject, batch, batch.deliveries, where, exc)
        done = [d for d in batch.deliveries if d.stream_seq not in outcome.failed_seqs]
        acked = await self._ack(done)
        self._report_flush(dataset, outcome, time.perf_counter() - started, acked)
        if outcome.error is None:
            return True
        failed = [d for d in batch.deliveries if d.stream_seq in outcome.failed_seqs]
        return await self._failed(subject, batch.subset(outcome.failed_seqs), failed, where,
                                  outcome.error)

    async def _decode_and_write(self, subject: str, batch: Buffer) -> FlushOutcome:
        """`_write_batch` on a thread, counting the rows decoded meanwhile (memory bound)."""
        self.decoding_rows += len(batch)
        self._note_decoded()
        try:
            return await asyncio.to_thread(self._write_batch, subject, batch)
        finally:
            self.decoding_rows -= len(batch)

    def _note_decoded(self) -> None:
        """Keep the high-water mark of rows held decoded: flushing, or decoded on arrival."""
        held = self.decoding_rows + sum(len(b.events) for b in self.buffers.values())
        self.decoded_rows_peak = max(self.decoded_rows_peak, held)

    def _write_batch(self, subject: str, batch: Buffer) -> FlushOutcome:
        """On the flush thread: parse, quarantine the bad, write the good (all durable)."""
        recv_ns = time.time_ns()
        decoder, bulk = self.decoders[subject], self.bulk.get(subject)
        ready = assemble(subject, batch, decoder, bulk, recv_ns, self.limits)
        if ready.rejects:
            ready.quarantine_paths = write_records(self.storage, ready.rejects,
                                                   self.writer.encoding)
        try:
            files = self.writer.write(self.datasets[subject], ready.table, ready.stream_seqs)
        except PartialWriteError as exc:
            written = [d for d in batch.deliveries if d.stream_seq not in exc.failed_seqs]
            record_received(self.storage, self.stream, written, self.spec.tier)
            return FlushOutcome(exc.written, ready, exc.failed_seqs, exc.cause)
        # In the ledger before any ack: a failure here fails the flush (nothing is acked).
        record_received(self.storage, self.stream, batch.deliveries, self.spec.tier)
        return FlushOutcome(files, ready)

    def _write_quarantine(self, records: list[QuarantineRecord], acks: list[Delivery]) -> list[str]:
        """On a thread: the quarantine files, then the ledger entry of the messages to ack."""
        paths = write_records(self.storage, records, self.writer.encoding)
        record_received(self.storage, self.stream, acks, "quarantine")
        return paths

    def _report_flush(
        self, dataset: Dataset, outcome: FlushOutcome, seconds: float, acked: int
    ) -> None:
        flush_id = next(_FLUSH_IDS)
        self.unknown_fields += outcome.ready.unknown_fields
        self._emit_quarantined(outcome.ready.rejects, outcome.ready.quarantine_paths)
        for f in outcome.files:
            self.emit(ev.Flushed(dataset.name, dataset.tier, f.path, f.partition.value,
                                 f.rows, f.bytes, seconds, acked, flush_id))
            log.info("flushed %s %s rows=%d bytes=%d ms=%.1f", dataset.name, f.path,
                     f.rows, f.bytes, seconds * 1000,
                     extra={"dataset": dataset.name, "partition": f.partition.value,
                            "path": f.path, "rows": f.rows, "bytes": f.bytes,
                            "ms": round(seconds * 1000, 1)})

    async def _failed(
        self,
        subject: str,
        batch: Buffer,
        deliveries: list[Delivery],
        where: str,
        exc: Exception,
    ) -> bool:
        """Messages not written: keep them to retry when stopping, else give them back."""
        if self._stopping:
            self.buffers[subject].restore(batch)
            log.warning("%s failed while stopping: %s", where, describe(exc))
        else:
            await self._give_back(deliveries, where, exc)
        return False

    async def _flush_quarantine(self) -> bool:
        """Write pending quarantine records, then ack the all-bad messages; False on failure."""
        async with self.quarantine_lock:
            if not self.quarantine:
                return True
            records, self.quarantine = self.quarantine, []
            acks, self.quarantine_acks = self.quarantine_acks, []
            try:
                paths = await asyncio.to_thread(self._write_quarantine, records, acks)
            except Exception as exc:
                if self._stopping:
                    self.quarantine, self.quarantine_acks = records + self.quarantine, acks
                    log.warning("quarantine write failed while stopping: %s", describe(exc))
                else:
                    await self._give_back(acks, "quarantine", exc, may_quarantine=False)
                return False
            await self._ack(acks)
            self._emit_quarantined(records, paths)
            return True

    def _emit_quarantined(self, records: list[QuarantineRecord], paths: list[str]) -> None:
        """One event and one log line per subject: a flood of bad input must not flood logs."""
        by_subject: dict[str, list[QuarantineRecord]] = {}
        for r in records:
            by_subject.setdefault(r.subject, []).append(r)
        for subject, group in by_subject.items():
            first = group[0]
            self.emit(ev.Quarantined(subject, len(group), _clip(first.reason),
                                     paths[0] if paths else ""))
            log.warning("quarantined %d from %s (first: seq=%d %s)", len(group),
                        _clip(subject), first.stream_seq, _clip(first.reason))

    async def _ack(self, deliveries: list[Delivery]) -> int:
        if not deliveries:
            return 0
        assert self.consumer is not None
        try:
            acked = await self.consumer.ack_many(deliveries)
        except Exception as exc:
            self.emit(ev.ErrorRaised("ack", f"{describe(exc)}; the messages will be redelivered"))
            return 0
        if acked < len(deliveries):
            self.emit(ev.ErrorRaised(
                "ack", f"{len(deliveries) - acked} acks unconfirmed; they will be redelivered"
            ))
        return acked

    async def _give_back(
        self, deliveries: list[Delivery], where: str, exc: Exception, may_quarantine: bool = True
    ) -> None:
        """A write failed: nak with a growing delay; past max_deliver, quarantine instead."""
        reason = describe(exc)
        limit = self.settings.nats.max_deliver
        spent = [d for d in deliveries if may_quarantine and d.num_delivered >= limit]
        retry = [d for d in deliveries if not (may_quarantine and d.num_delivered >= limit)]
        note = f"; {len(spent)} quarantined after {limit} deliveries" if spent else ""
        self.emit(ev.ErrorRaised(where, f"{reason}; {len(retry)} messages will be "
                                        f"redelivered{note}"))
        log.debug("%s failed: %s (%d to redeliver%s)", where, reason, len(retry), note)
        for d in spent:
            why = f"not written after {d.num_delivered} deliveries: {reason}"
            self._reject(d, why, [d.data], ack=True)
        await self._nak(retry)

    async def _nak(self, deliveries: list[Delivery]) -> None:
        """Give messages back to NATS, each after a delay that doubles with its deliveries."""
        assert self.consumer is not None
        nats = self.settings.nats
        by_delay: dict[float, list[Delivery]] = {}
        for d in deliveries:
            delay = min(nats.nak_delay_s * 2 ** max(0, d.num_delivered - 1), nats.nak_delay_max_s)
            by_delay.setdefault(delay, []).append(d)
        for delay, group in by_delay.items():
            try:
                await self.consumer.nak(group, delay=delay)
            except Exception as exc:  # they come back after ack_wait instead
                log.warning("nak of %d messages failed: %s", len(group), describe(exc))

    def _report(self) -> None:
        received = {k: v for k, v in self.received.items() if v}
        if received or self.unknown_fields:
            self.emit(ev.Received(received, self.unknown_fields))
            self.unknown_fields = 0
            self.received = dict.fromkeys(self.received, 0)
        self.emit(ev.BufferCounts(self.buffered()))


def _clip(text: str, limit: int = 200) -> str:
    """Logs and events never repeat a huge value (a 5,000-character symbol) in full."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _decoder(dataset: Dataset) -> Decoder:
    return GoldDecoder(dataset) if dataset.tier == "gold" else BronzeDecoder(dataset)


class BronzeWriter(StreamWriter):
    """`market.*` subjects → Bronze Parquet: one buffer per schema, 1000 events or 5 s."""

    def __init__(self, storage: Storage, settings: Settings, emit: Emit) -> None:
        spec = WriterSpec(
            "bronze", "market.>", settings.bronze.max_events, settings.bronze.max_age_s,
            settings.nats.bronze_consumer,
        )
        super().__init__(spec, storage, settings, emit)


class GoldWriter(StreamWriter):
    """`levels.signals` → Gold Parquet, one row per level: 500 records or 10 s."""

    def __init__(self, storage: Storage, settings: Settings, emit: Emit) -> None:
        spec = WriterSpec(
            "gold", "levels.>", settings.gold.max_records, settings.gold.max_age_s,
            settings.nats.gold_consumer,
        )
        super().__init__(spec, storage, settings, emit)
