"""Prometheus metrics built from the Service's events, in a registry of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from lakeconsole import __version__
from lakeconsole import events as ev
from lakeconsole.contract.schemas import by_subject
from lakeconsole.errors import SchemaError
from lakeconsole.ops.health import is_storage_failure
from lakeconsole.ops.reasons import reason_kind

PREFIX = "lakeconsole"
FLUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
COMPACTION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

class LakeMetrics:
    """The lakeconsole_* metrics; `apply` is a Service listener (cheap, any thread)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._last_flush: dict[str, int] = {}
        self._define_ingest()
        self._define_nats()
        self._define_compaction()
        Info(f"{PREFIX}_build", "lakeconsole version", registry=self.registry).info(
            {"version": __version__})
        self._handlers: dict[type, Callable[[Any], None]] = {
            ev.Received: self._received, ev.Flushed: self._flushed,
            ev.Quarantined: self._quarantined, ev.BufferCounts: self._buffered,
            ev.ConsumerLag: self._lag, ev.StreamState: self._stream,
            ev.UpstreamLoss: self._loss, ev.ConnectionState: self._connection,
            ev.CompactionFinished: self._compaction, ev.ErrorRaised: self._error,
            ev.CompactionQueue: self._compaction_queue,
        }

    # -- definitions -----------------------------------------------------------------

    def _counter(self, name: str, doc: str, labels: tuple[str, ...]) -> Counter:
        return Counter(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

    def _gauge(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

    def _define_ingest(self) -> None:
        ds = ("dataset",)
        self.received = self._counter("events_received_total", "Events received", ds)
        self.written = self._counter("events_written_total", "Rows written to Parquet", ds)
        self.flushes = self._counter("flushes_total", "Flushes that wrote files", ds)
        self.files = self._counter("files_written_total", "Parquet files written", ds)
        self.bytes = self._counter("bytes_written_total", "Parquet bytes written", ds)
        self.flush_seconds = Histogram(
            f"{PREFIX}_flush_seconds", "Duration of a flush (write and ack)", ds,
            buckets=FLUSH_BUCKETS, registry=self.registry)
        self.quarantined = self._counter(
            "quarantined_total", "Messages or elements quarantined", ("dataset", "reason"))
        self.buffered = self._gauge("buffered_events", "Events waiting in a writer buffer", ds)
        self.errors = self._counter("errors_total", "Errors reported by the service", ("where",))
        self.storage_errors = self._counter(
            "storage_errors_total", "Failed writes to storage", ("where",))

    def _define_nats(self) -> None:
        c, s = ("consumer",), ("stream",)
        self.pending = self._gauge("consumer_pending_messages", "Messages not yet delivered", c)
        self.ack_pending = self._gauge(
            "consumer_ack_pending_messages", "Messages delivered, not yet acked", c)
        self.redelivered = self._gauge(
            "consumer_redelivered_messages", "Messages delivered more than once, unacked", c)
        self.ack_floor = self._gauge("consumer_ack_floor_seq", "Stream seq of the ack floor", c)
        self.delivered = self._gauge("consumer_delivered_seq", "Last delivered stream seq", c)
        self.stream_messages = self._gauge("stream_messages", "Messages in the stream", s)
        self.stream_bytes = self._gauge("stream_bytes", "Bytes in the stream", s)
        self.stream_first = self._gauge("stream_first_seq", "First sequence kept", s)
        self.stream_last = self._gauge("stream_last_seq", "Last sequence stored", s)
        self.stream_usage = self._gauge(
            "stream_limit_usage_ratio", "Share of a stream limit in use (0..1)",
            ("stream", "limit"))
        self.stream_max_age = self._gauge(
            "stream_max_age_seconds", "Stream max_age limit (0: none)", s)
        self.lost = self._counter("upstream_lost_messages_total",
                                  "Stream sequences the lake never received", ("stream", "cause"))
        self.nats_connected = self._gauge("nats_connected", "1 while connected to NATS")
        self.nats_changes = self._counter(
            "nats_state_changes_total", "NATS connection state changes", ("state",))

    def _define_compaction(self) -> None:
        ds = ("dataset",)
        self.compactions = self._counter(
            "compaction_runs_total", "Partition compactions by outcome", ("dataset", "status"))
        self.compaction_seconds = Histogram(
            f"{PREFIX}_compaction_seconds", "Duration of one partition compaction", ds,
            buckets=COMPACTION_BUCKETS, registry=self.registry)
        self.compaction_read = self._counter(
            "compaction_rows_read_total", "Bronze rows read by compaction", ds)
        self.compaction_rows = self._counter(
            "compaction_rows_written_total", "Silver rows written by compaction", ds)
        self.duplicates = self._counter(
            "compaction_duplicates_removed_total", "Duplicate rows dropped by compaction", ds)
        self.compaction_queue = self._gauge(
            "compaction_queue_jobs", "Automatic/queued compaction jobs by state "
            "(queued, running; done and failed since start)", ("state",))
        # A gauge, not a counter: recompacting a partition finds its old gaps again.
        self.feed_gaps = self._gauge(
            "feed_gap_seqs", "Feed seq values missing in the Silver of a partition value, "
            "as of its latest compaction (any date) by this process", ("dataset", "partition"))

    # -- the listener ----------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        """Update the metrics from one service event."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _received(self, e: ev.Received) -> None:
        for name, count in e.counts.items():
            self.received.labels(name).inc(count)

    def _flushed(self, e: ev.Flushed) -> None:
        self.written.labels(e.dataset).inc(e.rows)
        self.bytes.labels(e.dataset).inc(e.bytes)
        self.files.labels(e.dataset).inc()
        # The files of one flush share its id: count the flush and its duration once.
        if self._last_flush.get(e.dataset) != e.flush:
            self._last_flush[e.dataset] = e.flush
            self.flushes.labels(e.dataset).inc()
            self.flush_seconds.labels(e.dataset).observe(e.seconds)

    def _quarantined(self, e: ev.Quarantined) -> None:
        try:
            dataset = by_subject(e.subject).name
        except SchemaError:
            dataset = "unknown"
        self.quarantined.labels(dataset, reason_kind(e.reason)).inc(e.count)

    def _buffered(self, e: ev.BufferCounts) -> None:
        for name, count in e.counts.items():
            self.buffered.labels(name).set(count)

    def _lag(self, e: ev.ConsumerLag) -> None:
        self.pending.labels(e.consumer).set(e.num_pending)
        self.ack_pending.labels(e.consumer).set(e.num_ack_pending)
        self.redelivered.labels(e.consumer).set(e.num_redelivered)
        self.ack_floor.labels(e.consumer).set(e.ack_floor)
        self.delivered.labels(e.consumer).set(e.delivered)

    def _stream(self, e: ev.StreamState) -> None:
        self.stream_messages.labels(e.stream).set(e.messages)
        self.stream_bytes.labels(e.stream).set(e.bytes)
        self.stream_first.labels(e.stream).set(e.first_seq)
        self.stream_last.labels(e.stream).set(e.last_seq)
        self.stream_max_age.labels(e.stream).set(max(e.max_age_s, 0.0))
        for limit, used, cap in (("messages", e.messages, e.max_msgs),
                                 ("bytes", e.bytes, e.max_bytes)):
            if cap > 0:
                self.stream_usage.labels(e.stream, limit).set(used / cap)

    def _loss(self, e: ev.UpstreamLoss) -> None:
        self.lost.labels(e.stream, e.cause).inc(e.count)

    def _connection(self, e: ev.ConnectionState) -> None:
        self.nats_changes.labels(e.state).inc()
        self.nats_connected.set(1 if e.state in ("connected", "reconnected") else 0)

    def _compaction(self, e: ev.CompactionFinished) -> None:
        r = e.result
        self.compactions.labels(r.dataset, r.status).inc()
        self.compaction_seconds.labels(r.dataset).observe(r.seconds)
        self.compaction_read.labels(r.dataset).inc(r.rows_read)
        self.compaction_rows.labels(r.dataset).inc(r.rows_written)
        self.duplicates.labels(r.dataset).inc(r.duplicates_removed)
        if r.feed_gap_seqs is not None:
            self.feed_gaps.labels(r.dataset, r.partition).set(r.feed_gap_seqs)

    def _compaction_queue(self, e: ev.CompactionQueue) -> None:
        for state in ("queued", "running", "done", "failed"):
            self.compaction_queue.labels(state).set(getattr(e, state))

    def _error(self, e: ev.ErrorRaised) -> None:
        self.errors.labels(e.where).inc()
        if is_storage_failure(e.where):
            self.storage_errors.labels(e.where).inc()

