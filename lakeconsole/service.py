"""Service: one object that owns config, storage, NATS and the writers, and emits events.

The console and `--headless` both drive a Service; neither touches NATS or storage
directly. Listeners get plain dataclasses from `lakeconsole.events`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.errors import ConfigError, IngestError, QueryError, SchemaError
from lakeconsole.errors import describe as describe_error
from lakeconsole.ingest.autocompact import AutoCompaction
from lakeconsole.ingest.bus import NATSBus
from lakeconsole.ingest.completeness import audit_loop
from lakeconsole.ingest.embedded import EmbeddedNATS
from lakeconsole.ingest.stream_writers import BronzeWriter, GoldWriter, StreamWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.ops.backoff import Backoff
from lakeconsole.query import ROW_LIMIT
from lakeconsole.silver.result import CompactionResult

if TYPE_CHECKING:
    from lakeconsole.iceberg.history import SnapshotEntry
    from lakeconsole.iceberg.silver import SilverTables
    from lakeconsole.iceberg.sync import SyncResult
    from lakeconsole.lake.replays import ReplayResult
    from lakeconsole.ledger.coverage import HourCoverage
    from lakeconsole.query.catalog import CatalogNode
    from lakeconsole.query.inspect import FileDetail
    from lakeconsole.query.quarantine import QuarantineView

log = logging.getLogger(__name__)
Listener = Callable[[ev.Event], None]
LAG_INTERVAL_S = 2.0
# Only temp files this old are swept at start: a younger one may be another instance's
# write in progress on the same root (a crashed writer's leftovers are hidden anyway).
TEMP_MAX_AGE_S = 600.0
STORAGE_RETRY_FIRST_S = 0.5
STORAGE_RETRY_MAX_S = 30.0
DEMO_RATE = 2000.0
CANCEL_RETRY_S = 0.5
# Gold joins its Iceberg table a minute after each hour closes: the last flushes of the
# hour (every 1-2 s) are in by then, and one commit per hour keeps the metadata small.
GOLD_SYNC_DELAY_S = 60.0


def seconds_to_gold_sync(now: float) -> float:
    """Seconds from `now` (epoch) to the next time GOLD_SYNC_DELAY_S past a UTC hour."""
    return 3600 - (now - GOLD_SYNC_DELAY_S) % 3600


class Service:
    """The lake service: embedded or remote NATS → Bronze/Gold writers; compaction; queries."""

    def __init__(self, settings: Settings, *, demo: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.storage = Storage.from_settings(settings.storage)
        self.bus = NATSBus(on_state=self._on_state)
        self.writers: list[StreamWriter] = [
            BronzeWriter(self.storage, settings, self.emit),
            GoldWriter(self.storage, settings, self.emit),
        ]
        # Made here, started in start(): its URL is known before (the banner shows it).
        own_server = demo or settings.nats.embedded
        self._server = EmbeddedNATS(self._embedded_store()) if own_server else None
        self.embedded: EmbeddedNATS | None = None  # the server while this service runs it
        self._listeners: list[Listener] = []
        # `[silver] auto`, and the compaction queue's results from any worker.
        self.auto = AutoCompaction(self.bus, self.storage, settings, self.emit)
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = False
        self._silver_tables: SilverTables | None = None  # the Iceberg catalog, opened once

    # -- events ----------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: ev.Event) -> None:
        """Hand an event to every listener; a failing listener never stops the service."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break ingest
                log.exception("event listener failed")

    def _on_state(self, state: str, detail: str) -> None:
        self.emit(ev.ConnectionState(state, detail))

    # -- lifecycle -------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True from a finished start() until stop(): storage reached, NATS connected."""
        return self._started

    @property
    def nats_url(self) -> str:
        """The NATS server in use: the embedded one's with `--demo` or `nats.embedded`."""
        return self._server.url if self._server is not None else self.settings.nats.url

    async def start(self) -> None:
        """Wait for storage (sweeping temp files), start NATS if embedded, connect, write."""
        await self._wait_for_storage()
        if self._server is not None:
            self.embedded = self._server
            await asyncio.to_thread(self._server.start)
        await self.bus.connect(self.nats_url)
        for writer in self.writers:
            await writer.start(self.bus)
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._poll_lag(), name="lag poll"))
        self._tasks.append(loop.create_task(audit_loop(
            self.bus, self.storage, self._audit_targets, self.emit), name="ledger audit"))
        self._tasks.append(loop.create_task(self.auto.watch(), name="compaction queue"))
        if self.settings.silver.auto:  # off by default, and so in --demo (docs/design.md §5)
            self._tasks.append(loop.create_task(self.auto.run(), name="auto compaction"))
        if self.demo:
            self._tasks.append(loop.create_task(self._run_demo_feed(), name="demo feed"))
        if self.settings.iceberg.enabled:
            self._tasks.append(loop.create_task(self._sync_gold_hourly(), name="gold iceberg"))
        self._started = True

    async def _wait_for_storage(self) -> None:
        """Sweep stale temp files; while storage fails, retry with backoff.

        One ErrorRaised when storage starts failing (and when the failure changes), not one
        per try: an outage of minutes must not flood the log.
        """
        backoff = Backoff(STORAGE_RETRY_FIRST_S, STORAGE_RETRY_MAX_S)
        reported = ""
        while True:
            try:
                swept = await asyncio.to_thread(self.storage.sweep_temp, TEMP_MAX_AGE_S)
                break
            except Exception as exc:  # unreachable endpoint, bad credentials, full disk…
                pause, problem = backoff.next(), describe_error(exc)
                if problem != reported:
                    reported = problem
                    self.emit(ev.ErrorRaised("storage", f"{problem}; retrying in {pause:.1f} s "
                                             f"(backoff up to {STORAGE_RETRY_MAX_S:g} s)"))
                else:
                    log.debug("storage still failing: %s; retrying in %.1f s", problem, pause)
                await asyncio.sleep(pause)
        if reported:
            log.info("storage %s is reachable again", self.storage.url)
        if swept:
            log.info("swept %d stale temp files", len(swept))

    def _embedded_store(self) -> Path:
        if self.storage.is_local:
            return Path(self.storage.root).parent / "nats"
        return Path("data/nats")

    async def stop(self) -> int:
        """Flush every buffer, ack, disconnect; always stop the embedded server.

        While storage fails, the final flush is retried for `service.stop_grace_s`; returns
        how many messages were still unwritten then (given back to NATS, nothing lost).
        """
        unwritten = 0
        try:
            await self._stop_tasks()
            grace = self.settings.service.stop_grace_s
            results = await asyncio.gather(*(w.stop(grace) for w in self.writers),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    self.emit(ev.ErrorRaised("stop", describe_error(result)))
                else:
                    unwritten += result
            await self.bus.close()
        finally:
            if self.embedded is not None:
                await asyncio.to_thread(self.embedded.stop)
                self.embedded = None
            self._started = False
        return unwritten

    async def _stop_tasks(self) -> None:
        pending = set(self._tasks)
        while pending:
            # Again and again: Python 3.11's wait_for can swallow a cancel that races its
            # result (gh-86296), and the demo feed waits for publish acks that way.
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=CANCEL_RETRY_S)
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for task, result in zip(self._tasks, results, strict=True):
            if isinstance(result, Exception):  # a background task that died unobserved
                self.emit(ev.ErrorRaised(task.get_name(), describe_error(result)))
        self._tasks.clear()

    def _audit_targets(self) -> list[tuple[str, str]]:
        """The (stream, durable) pair of each running writer: the completeness audit's."""
        return [(w.stream, w.spec.durable) for w in self.writers if w.consumer is not None]

    async def _poll_lag(self) -> None:
        while True:
            await asyncio.sleep(LAG_INTERVAL_S)
            for writer in self.writers:
                if writer.consumer is None or not self.bus.is_connected:
                    continue
                try:
                    lag = await self.bus.consumer_lag(writer.stream, writer.spec.durable)
                except Exception as exc:  # a NATS hiccup: the next poll tries again
                    log.debug("lag poll failed: %s", describe_error(exc))
                    continue
                self.emit(ev.ConsumerLag(writer.spec.durable, lag["num_pending"],
                                         lag["num_ack_pending"], lag["num_redelivered"],
                                         ack_floor=lag["ack_floor_seq"],
                                         delivered=lag["delivered_seq"]))
            await self._poll_streams()

    async def _poll_streams(self) -> None:
        """Emit each writer stream's StreamState (the metrics' and Health tab's limits)."""
        for stream in sorted({w.stream for w in self.writers if w.consumer is not None}):
            if not self.bus.is_connected:
                return
            try:
                state = await self.bus.stream_state(stream)
            except Exception as exc:  # a NATS hiccup: the next poll tries again
                log.debug("stream poll failed: %s", describe_error(exc))
                continue
            self.emit(state)

    async def _sync_gold_hourly(self) -> None:
        """With Iceberg on: once each UTC hour has closed, Gold's new files join its table."""
        while True:
            await asyncio.sleep(seconds_to_gold_sync(time.time()))
            try:
                await asyncio.to_thread(self.sync_gold)
            except Exception as exc:  # the catalog or storage, of any library: next hour
                self.emit(ev.ErrorRaised("gold iceberg sync", describe_error(exc)))

    def sync_gold(self) -> list[SyncResult]:
        """Commit the Gold files flushed since the last sync to the Gold Iceberg table."""
        from lakeconsole.contract.schemas import gold_datasets
        from lakeconsole.iceberg.sync import sync  # pyiceberg: only with Iceberg on

        results = sync(self.storage, self.settings, gold_datasets())
        for r in results:
            if r.status == "failed":
                self.emit(ev.ErrorRaised("gold iceberg sync", f"{r.key}: {r.detail}"))
            elif r.status == "committed":
                log.info("gold iceberg sync: %s %s", r.key, r.detail)
        return results

    async def _run_demo_feed(self) -> None:
        from lakeconsole.demo.feed import run_feed

        try:
            await run_feed(self.bus, DEMO_RATE)
        except Exception as exc:  # nats-py raises its own types too
            self.emit(ev.ErrorRaised("demo feed", describe_error(exc)))

    # -- compaction and queries (blocking: call from a thread) ---------------------------
    # DuckDB and the compactor are imported on first use: headless ingest never needs them.

    def compact(
        self,
        date: str,
        schema: str | None = None,
        partition: str | None = None,
        cancel: threading.Event | None = None,
    ) -> list[CompactionResult]:
        """Compact Bronze → Silver for a date; emits progress and one result per partition."""
        from lakeconsole.silver.compactor import SilverCompactor

        compactor = SilverCompactor(self.storage, self.settings)
        jobs = compactor.plan(date, schema, partition)

        rows_read = 0

        def progress(done: int, total: int, result: CompactionResult | None) -> None:
            nonlocal rows_read  # called from one thread at a time: compact_many's loop
            rows_read += result.rows_read if result else 0
            self.emit(ev.CompactionProgress(done, total, result.key if result else "",
                                            rows_read))

        results = compactor.compact_many(jobs, progress=progress, cancel=cancel)
        for result in results:
            self.emit(ev.CompactionFinished(result.key, result))
        return results

    def read(
        self,
        tier: str,
        dataset: str,
        partition_value: str,
        date: str,
        start_ns: int | None = None,
        end_ns: int | None = None,
        columns: list[str] | None = None,
        *,
        as_of_snapshot: int | None = None,
        as_of_ns: int | None = None,
    ) -> pa.Table:
        """Rows of one partition and date as Arrow; Silver and Gold also as of a snapshot."""
        if as_of_snapshot is not None or as_of_ns is not None:
            return self._read_as_of(tier, dataset, partition_value, date, start_ns, end_ns,
                                    columns, as_of_snapshot, as_of_ns)
        from lakeconsole.query.readers import LakeReader  # pandas: only when asked to read

        reader = LakeReader(self.storage)
        return reader.read_arrow(tier, dataset, partition_value, date, start_ns, end_ns, columns)

    def _read_as_of(self, tier: str, dataset: str, partition_value: str, date: str,
                    start_ns: int | None, end_ns: int | None, columns: list[str] | None,
                    as_of_snapshot: int | None, as_of_ns: int | None) -> pa.Table:
        """A Silver or Gold read from the dataset's Iceberg table, as an older snapshot saw it."""
        from lakeconsole.contract.schemas import by_name

        if tier not in ("silver", "gold"):
            raise QueryError(f"time travel (as of) reads Silver and Gold, not {tier}")
        ds = by_name(dataset)
        if tier not in ds.tiers:
            raise SchemaError(f"dataset {ds.name} is not stored in the {tier} tier")
        unknown = [c for c in columns or [] if c not in ds.columns]
        if unknown:
            raise SchemaError(f"unknown column(s) {', '.join(unknown)} in {ds.name}")
        from lakeconsole.iceberg.time_travel import read_as_of  # pyiceberg: only when asked

        table = read_as_of(self._iceberg(), ds, partition_value, date,
                           snapshot_id=as_of_snapshot, as_of_ns=as_of_ns,
                           start_ns=start_ns, end_ns=end_ns)
        return table if columns is None else table.select(columns)

    def iceberg_history(self, dataset: str) -> list[SnapshotEntry]:
        """The live snapshots of a dataset's Iceberg table, newest first (current marked)."""
        from lakeconsole.contract.schemas import by_name
        from lakeconsole.iceberg.history import history  # pyiceberg: only when asked

        return history(self._iceberg(), by_name(dataset))

    def _iceberg(self) -> SilverTables:
        """The Iceberg tables (catalog opened on first use); ConfigError when Iceberg is off."""
        if not self.settings.iceberg.enabled:
            raise ConfigError("Iceberg is off: set [iceberg] enabled = true to use its tables")
        from lakeconsole.iceberg.silver import SilverTables

        if self._silver_tables is None:  # a race makes two, both fine: the catalog is shared
            self._silver_tables = SilverTables(self.storage, self.settings)
        return self._silver_tables

    def sql(self, query: str, limit: int | None = ROW_LIMIT) -> pa.Table:
        """DuckDB SQL over the lake's views."""
        from lakeconsole.query.sql import LakeSQL

        return LakeSQL(self.storage).query(query, limit=limit)

    def export(self, table: pa.Table, folder: Path, fmt: str) -> Path:
        """Write a query result to `folder` as csv or parquet; returns the file."""
        from lakeconsole.query.export import export_table

        return export_table(table, folder, fmt)

    def catalog(self, prefix: str = "") -> list[CatalogNode]:
        """One level of the partition tree below `prefix`."""
        from lakeconsole.query.catalog import list_children

        return list_children(self.storage, prefix)

    def describe_file(self, path: str) -> FileDetail:
        """One lake file's footer: schema, row groups, compression, key/value metadata."""
        from lakeconsole.query.inspect import describe_file

        return describe_file(self.storage, path)

    def quarantine(self) -> QuarantineView:
        """Quarantine counts per subject and reason, and the newest entries with payloads."""
        from lakeconsole.query.quarantine import read_view

        return read_view(self.storage)

    async def replay(self, entry_ids: list[str]) -> ReplayResult:
        """Republish quarantined entries to their subjects, each at most once (recorded)."""
        from lakeconsole.ingest.replay import replay_ids

        if not self.bus.is_connected:
            raise IngestError("cannot replay: not connected to NATS")
        return await replay_ids(self.bus, self.storage, entry_ids)

    def coverage(self, date: str, dataset: str | None = None,
                 partition: str | None = None) -> list[HourCoverage]:
        """How complete each (dataset, partition, UTC hour) of `date` is (the Health tab)."""
        from lakeconsole.ledger.coverage import compute_coverage

        return compute_coverage(self.storage, date, dataset, partition)
