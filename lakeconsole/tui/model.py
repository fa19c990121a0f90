"""The console's plain state: service events folded into counters, drained on each UI tick.

The listener (`ConsoleModel.apply`) runs on the asyncio loop or on worker threads and must
stay cheap, so it only updates counters under a lock; the UI reads them at refresh_hz.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from lakeconsole import events as ev
from lakeconsole.contract.schemas import DATASETS, by_subject
from lakeconsole.errors import SchemaError
from lakeconsole.silver.result import CompactionResult
from lakeconsole.tui.health_model import HealthModel

HISTORY = 120
MAX_LOG = 5000
RATE_SAMPLES = 2400  # a minute of samples at refresh_hz up to 40
RATE_WINDOW_S = 2.0  # rates average over this window: smooth despite bursty reports


@dataclass
class DatasetStats:
    """Running counters of one dataset (a row of the dashboard)."""

    name: str
    tier: str
    buffered: int = 0
    received: int = 0
    rate: float = 0.0
    flushes: int = 0
    files: int = 0
    rows: int = 0
    bytes: int = 0
    last_flush_at: float | None = None
    quarantined: int = 0
    last_flush_key: int | None = None


@dataclass(frozen=True)
class ConsumerStats:
    """One JetStream consumer's latest figures (one consumer serves a whole tier)."""

    consumer: str
    tier: str
    pending: int
    ack_pending: int
    redelivered: int


@dataclass(frozen=True)
class LogEntry:
    """One line of the flush log."""

    at: float
    kind: str  # flush | quarantine | error | compaction
    dataset: str
    partition: str = ""
    rows: int | None = None
    bytes: int | None = None
    ms: float | None = None
    detail: str = ""


@dataclass
class CompactionState:
    """Progress of the running compaction."""

    done: int = 0
    total: int = 0
    current: str = ""
    results: list[CompactionResult] = field(default_factory=list)
    rows_read: int = 0


class ConsoleModel:
    """Everything the dashboard shows, built from service events only."""

    def __init__(self, consumers: dict[str, str] | None = None) -> None:
        self.lock = threading.Lock()
        self.consumers = consumers or {"lake-bronze": "bronze", "lake-gold": "gold"}
        self.datasets = {d.name: DatasetStats(d.name, d.tier) for d in DATASETS}
        self.lags: dict[str, ConsumerStats] = {}
        self.connection = "starting"
        self.connection_detail = ""
        self.errors = 0
        self.last_error = ""
        self.unknown_quarantined = 0
        self.flush_count = 0
        self.history: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)
        # (time, rate per dataset) at each sample, for the dashboard's per-dataset sparklines.
        self.rate_samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=RATE_SAMPLES)
        self.compaction = CompactionState()
        # Automatic and queued compaction: its counts, and results of background runs.
        self.queue: ev.CompactionQueue | None = None
        self._background: deque[tuple[str, CompactionResult]] = deque(maxlen=MAX_LOG)
        self.health = HealthModel(self.consumers)  # the Health tab's streams and losses
        self._log: deque[LogEntry] = deque(maxlen=MAX_LOG)
        self._new_errors: deque[str] = deque(maxlen=50)
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    # -- the listener ------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        """Fold one service event into the counters (cheap; any thread)."""
        self.health.apply(event)
        with self.lock:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)

    def _buffer_counts(self, e: ev.BufferCounts) -> None:
        for name, count in e.counts.items():
            if name in self.datasets:
                self.datasets[name].buffered = count

    def _received(self, e: ev.Received) -> None:
        for name, count in e.counts.items():
            if name in self.datasets:
                self.datasets[name].received += count

    def _flushed(self, e: ev.Flushed) -> None:
        stats = self.datasets.get(e.dataset)
        if stats is not None:
            key = e.flush
            if key != stats.last_flush_key:
                stats.flushes += 1
                stats.last_flush_key = key
            stats.files += 1
            stats.rows += e.rows
            stats.bytes += e.bytes
            stats.last_flush_at = e.at
        self.flush_count += 1
        self._log.append(LogEntry(e.at, "flush", e.dataset, e.partition, e.rows, e.bytes,
                                  e.seconds * 1000, e.path))

    def _quarantined(self, e: ev.Quarantined) -> None:
        try:
            name = by_subject(e.subject).name
        except SchemaError:
            name = ""
        if name in self.datasets:
            self.datasets[name].quarantined += e.count
        else:
            self.unknown_quarantined += e.count
        self._log.append(LogEntry(e.at, "quarantine", name or e.subject, rows=e.count,
                                  detail=e.reason))

    def _lag(self, e: ev.ConsumerLag) -> None:
        self.lags[e.consumer] = ConsumerStats(e.consumer, self.consumers.get(e.consumer, ""),
                                              e.num_pending, e.num_ack_pending,
                                              e.num_redelivered)

    def _connection(self, e: ev.ConnectionState) -> None:
        self.connection, self.connection_detail = e.state, e.detail

    def _progress(self, e: ev.CompactionProgress) -> None:
        self.compaction.done, self.compaction.total = e.done, e.total
        self.compaction.current = e.current
        self.compaction.rows_read = e.rows_read

    def _finished(self, e: ev.CompactionFinished) -> None:
        if e.source:  # auto or a worker: not part of the run the Compact tab started
            self._background.append((e.source, e.result))
        else:
            self.compaction.results.append(e.result)
        r = e.result
        self._log.append(LogEntry(e.at, "compaction", e.key, rows=r.rows_written,
                                  bytes=r.bytes_written, detail=r.status))

    def _error(self, e: ev.ErrorRaised) -> None:
        self.errors += 1
        self.last_error = f"{e.where}: {e.message}"
        self._new_errors.append(self.last_error)
        self._log.append(LogEntry(e.at, "error", e.where, detail=e.message))

    # -- the UI tick -------------------------------------------------------------------

    def sample(self, now: float) -> None:
        """Per-dataset rates over the last RATE_WINDOW_S, and one sparkline point."""
        with self.lock:
            if self._samples and now <= self._samples[-1][0]:
                return  # same instant (frozen clock): nothing new to plot
            totals = {n: s.received for n, s in self.datasets.items()}
            self._samples.append((now, totals))
            while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_S:
                self._samples.popleft()
            start, old = self._samples[0]
            if now <= start:
                return
            total = 0.0
            for name, stats in self.datasets.items():
                stats.rate = (totals[name] - old.get(name, 0)) / (now - start)
                total += stats.rate
            self.history.append(total)
            self.rate_samples.append((now, {n: s.rate for n, s in self.datasets.items()}))

    def rates(self) -> list[tuple[float, dict[str, float]]]:
        """A copy of the recent (time, rate per dataset) samples, oldest first."""
        with self.lock:
            return list(self.rate_samples)

    def drain_log(self) -> list[LogEntry]:
        """Log entries since the last drain, oldest first (at most MAX_LOG are kept)."""
        with self.lock:
            out = list(self._log)
            self._log.clear()
            return out

    def drain_errors(self) -> list[str]:
        """Errors since the last drain, for notifications."""
        with self.lock:
            out = list(self._new_errors)
            self._new_errors.clear()
            return out

    def _queue(self, e: ev.CompactionQueue) -> None:
        self.queue = e

    def drain_background(self) -> list[tuple[str, CompactionResult]]:
        """(source, result) of background compactions since the last drain."""
        with self.lock:
            out = list(self._background)
            self._background.clear()
            return out

    def reset_compaction(self) -> None:
        """Forget the last run's progress and results."""
        with self.lock:
            self.compaction = CompactionState()

    def compaction_state(self) -> CompactionState:
        """A copy of the compaction progress."""
        with self.lock:
            c = self.compaction
            return CompactionState(c.done, c.total, c.current, list(c.results), c.rows_read)

    def rows(self) -> list[DatasetStats]:
        """A copy of every dataset's counters, in registry order."""
        with self.lock:
            return [DatasetStats(**vars(s)) for s in self.datasets.values()]

    def consumer_rows(self) -> list[ConsumerStats]:
        """The latest figures of each consumer heard from, by name."""
        with self.lock:
            return [self.lags[name] for name in sorted(self.lags)]

    def total_rate(self) -> float:
        """Events per second across datasets at the last sample."""
        return self.history[-1] if self.history else 0.0


_HANDLERS: dict[type, Any] = {
    ev.BufferCounts: ConsoleModel._buffer_counts,
    ev.Received: ConsoleModel._received,
    ev.Flushed: ConsoleModel._flushed,
    ev.Quarantined: ConsoleModel._quarantined,
    ev.ConsumerLag: ConsoleModel._lag,
    ev.ConnectionState: ConsoleModel._connection,
    ev.CompactionProgress: ConsoleModel._progress,
    ev.CompactionFinished: ConsoleModel._finished,
    ev.CompactionQueue: ConsoleModel._queue,
    ev.ErrorRaised: ConsoleModel._error,
}
