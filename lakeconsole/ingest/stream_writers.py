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
from dataclasses import dataclass

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.contract.bulk import BulkDecoder, is_single_object
from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import DATASETS, Dataset
from lakeconsole.contract.wire import BronzeDecoder
from lakeconsole.errors import LakeError
from lakeconsole.ingest.buffers import Assembled, Buffer, Decoder, assemble
from lakeconsole.ingest.bus import NATSBus
from lakeconsole.ingest.consumer import PullConsumer, payload_bytes
from lakeconsole.ingest.messages import Delivery
from lakeconsole.lake.batch_writer import PartitionedWriter, WrittenFile
from lakeconsole.lake.parquet import Encoding
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage

log = logging.getLogger(__name__)
_FLUSH_IDS = itertools.count(1)
Emit = Callable[[ev.Event], None]


@dataclass(frozen=True)
class WriterSpec:
    """What distinguishes the Bronze writer from the Gold writer."""

    tier: str
    stream_subjects: str  # the consumer's filter: everything on the stream, so strays are seen
    max_events: int
    max_age_s: float
    durable: str


class StreamWriter:
    """One durable pull consumer feeding per-dataset buffers that flush to storage."""

    def __init__(self, spec: WriterSpec, storage: Storage, settings: Settings, emit: Emit) -> None:
        self.spec = spec
        self.storage = storage
        self.settings = settings
        self.emit = emit
        self.writer = PartitionedWriter(
            storage, Encoding(settings.parquet.compression, settings.parquet.compression_level)
        )
        self.datasets = {d.subject: d for d in DATASETS if d.tier == spec.tier}
        self.decoders: dict[str, Decoder] = {s: _decoder(d) for s, d in self.datasets.items()}
        self.bulk = {s: BulkDecoder(d) for s, d in self.datasets.items() if d.tier == "bronze"}
        self.buffers = {s: Buffer() for s in self.datasets}
        self.names = {s: d.name for s, d in self.datasets.items()}
        self.flushing: dict[str, asyncio.Task[None]] = {}
        self.quarantine: list[QuarantineRecord] = []
        self.quarantine_acks: list[Delivery] = []
        self.quarantine_lock = asyncio.Lock()
        self.received: dict[str, int] = dict.fromkeys(self.names.values(), 0)
        self.unknown_fields = 0
        self.consumer: PullConsumer | None = None
        self.stream = ""
        self._ticker: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, bus: NATSBus) -> None:
        """Bind the durable consumer and start flushing on size and age."""
        streams = await bus.ensure_streams(list(self.datasets))
        self.stream = streams[next(iter(self.datasets))]
        nats = self.settings.nats
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

    async def stop(self) -> None:
        """Stop pulling, flush every buffer, ack what was written."""
        if self.consumer is not None:
            await self.consumer.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.flush_all()
        self._report()  # final counts: empty buffers, and what the last flushes counted

    async def flush_all(self) -> None:
        """Flush every non-empty buffer and the quarantine now."""
        await asyncio.gather(*self.flushing.values(), return_exceptions=True)
        for subject, buf in self.buffers.items():
            if buf.deliveries:
                await self._flush(subject)
        await self._flush_quarantine()

    def buffered(self) -> dict[str, int]:
        """Events waiting per dataset name."""
        return {self.names[s]: len(b) for s, b in self.buffers.items()}

    # -- receiving -------------------------------------------------------------------

    def _on_message(self, msg: Delivery) -> None:
        """Buffer a message (decoded now, or raw for the bulk path); never raises."""
        subject, data = msg.subject, msg.data
        if subject not in self.decoders:
            self._reject(msg, f"unknown subject {subject!r}", [data], ack=True)
            return
        if len(data) > self.settings.nats.max_message_bytes:
            limit = self.settings.nats.max_message_bytes
            reason = f"message of {len(data)} bytes exceeds nats.max_message_bytes={limit}"
            self._reject(msg, reason, [data], ack=True)
            return
        buf = self.buffers[subject]
        if not buf.deliveries:
            buf.opened = time.monotonic()
        if subject in self.bulk and is_single_object(data):
            # The hot path: keep the bytes; the flush thread parses them all at once.
            buf.raw.append(data)
            buf.raw_seqs.append(msg.stream_seq)
            buf.deliveries.append(msg)
            self.received[self.names[subject]] += 1
        else:
            self._decode_now(msg, buf)
        if len(buf) >= self.spec.max_events:
            self._start_flush(subject)

    def _decode_now(self, msg: Delivery, buf: Buffer) -> None:
        decoded = self.decoders[msg.subject].decode(msg.data)
        self.unknown_fields += decoded.unknown_fields
        for bad in decoded.bad:
            self._reject(msg, bad.reason, [bad.raw], ack=not decoded.events)
        if decoded.events:
            buf.events.extend(decoded.events)
            buf.event_seqs.extend(itertools.repeat(msg.stream_seq, len(decoded.events)))
            buf.deliveries.append(msg)
            self.received[self.names[msg.subject]] += len(decoded.events)

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
        if subject in self.flushing:
            return  # the running flush re-checks the buffer when it ends
        task = asyncio.get_running_loop().create_task(self._flush_task(subject))
        self.flushing[subject] = task

    async def _flush_task(self, subject: str) -> None:
        """Flush once, then again while the buffer refilled past max_events meanwhile."""
        try:
            await self._flush(subject)
            while len(self.buffers[subject]) >= self.spec.max_events:
                await self._flush(subject)
        finally:
            self.flushing.pop(subject, None)

    async def _tick(self) -> None:
        """Flush buffers that are old enough, even when no message arrives."""
        interval = min(0.25, self.spec.max_age_s / 4)
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for subject, buf in self.buffers.items():
                if buf.deliveries and now - buf.opened >= self.spec.max_age_s:
                    self._start_flush(subject)
            if self.quarantine and not self.quarantine_lock.locked():
                await self._flush_quarantine()
            self._report()

    async def _flush(self, subject: str) -> None:
        """Write the buffer's rows, then ack its messages; on failure, let them redeliver."""
        batch = self.buffers[subject].take()
        if not batch.deliveries:
            return
        dataset = self.datasets[subject]
        # Bad parts of mixed messages must be durable before those messages are acked.
        if not await self._flush_quarantine():
            await self._give_back(batch.deliveries, f"flush {dataset.name}",
                                  LakeError("the quarantine write failed"))
            return
        started = time.perf_counter()
        try:
            files, ready = await asyncio.to_thread(self._write_batch, subject, batch)
        except (LakeError, OSError, ValueError) as exc:
            await self._give_back(batch.deliveries, f"flush {dataset.name}", exc)
            return
        acked = await self._ack(batch.deliveries)
        seconds = time.perf_counter() - started
        flush_id = next(_FLUSH_IDS)
        self.unknown_fields += ready.unknown_fields
        self._emit_quarantined(ready.rejects, ready.quarantine_paths)
        for f in files:
            self.emit(ev.Flushed(dataset.name, dataset.tier, f.path, f.partition.value,
                                 f.rows, f.bytes, seconds, acked, flush_id))
            log.info("flushed %s %s rows=%d bytes=%d ms=%.1f", dataset.name, f.path,
                     f.rows, f.bytes, seconds * 1000)

    def _write_batch(self, subject: str, batch: Buffer) -> tuple[list[WrittenFile], Assembled]:
        """On the flush thread: parse, quarantine the bad, write the good (all durable)."""
        recv_ns = time.time_ns()
        ready = assemble(subject, batch, self.decoders[subject], self.bulk.get(subject), recv_ns)
        if ready.rejects:
            ready.quarantine_paths = write_records(self.storage, ready.rejects)
        files = self.writer.write(self.datasets[subject], ready.table, ready.stream_seqs)
        return files, ready

    async def _flush_quarantine(self) -> bool:
        """Write pending quarantine records, then ack the all-bad messages; False on failure."""
        async with self.quarantine_lock:
            if not self.quarantine:
                return True
            records, self.quarantine = self.quarantine, []
            acks, self.quarantine_acks = self.quarantine_acks, []
            try:
                paths = await asyncio.to_thread(write_records, self.storage, records)
            except (LakeError, OSError) as exc:
                await self._give_back(acks, "quarantine", exc)
                return False
            await self._ack(acks)
            self._emit_quarantined(records, paths)
            return True

    def _emit_quarantined(self, records: list[QuarantineRecord], paths: list[str]) -> None:
        for r in records:
            self.emit(ev.Quarantined(r.subject, 1, r.reason, paths[0] if paths else ""))
            log.warning("quarantined %s seq=%d: %s", r.subject, r.stream_seq, r.reason)

    async def _ack(self, deliveries: list[Delivery]) -> int:
        assert self.consumer is not None
        try:
            acked = await self.consumer.ack_many(deliveries)
        except LakeError as exc:
            self.emit(ev.ErrorRaised("ack", f"{exc}; the messages will be redelivered"))
            return 0
        if acked < len(deliveries):
            self.emit(ev.ErrorRaised(
                "ack", f"{len(deliveries) - acked} acks unconfirmed; they will be redelivered"
            ))
        return acked

    async def _give_back(self, deliveries: list[Delivery], where: str, exc: Exception) -> None:
        """A write failed: nak so JetStream redelivers, and say so."""
        self.emit(ev.ErrorRaised(where, f"{exc}; {len(deliveries)} messages will be redelivered"))
        log.error("%s failed: %s", where, exc)
        assert self.consumer is not None
        with contextlib.suppress(LakeError):
            await self.consumer.bus.nak(deliveries, delay=1.0)
        self.consumer.release(len(deliveries), payload_bytes(deliveries))

    def _report(self) -> None:
        received = {k: v for k, v in self.received.items() if v}
        if received or self.unknown_fields:
            self.emit(ev.Received(received, self.unknown_fields))
            self.unknown_fields = 0
            self.received = dict.fromkeys(self.received, 0)
        self.emit(ev.BufferCounts(self.buffered()))


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
