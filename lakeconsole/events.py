"""Plain, immutable events the Service emits; the console renders them, headless logs them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lakeconsole.silver.result import CompactionResult


def _now() -> float:
    return time.time()


@dataclass(frozen=True)
class BufferCounts:
    """Events waiting in each writer buffer, keyed by dataset name."""

    counts: dict[str, int]
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class Received:
    """Events received since the last report, per dataset, and unknown fields ignored."""

    counts: dict[str, int]
    unknown_fields: int = 0
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class Flushed:
    """One file made durable and its messages acked; a flush of several files shares `flush`."""

    dataset: str
    tier: str
    path: str
    partition: str
    rows: int
    bytes: int
    seconds: float
    acked: int
    flush: int = 0
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class Quarantined:
    """Bad input moved to the quarantine tier."""

    subject: str
    count: int
    reason: str
    path: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class ConsumerLag:
    """JetStream consumer state."""

    consumer: str
    num_pending: int
    num_ack_pending: int
    num_redelivered: int
    at: float = field(default_factory=_now)
    ack_floor: int = 0  # stream sequence: everything at or below it is acked or gone
    delivered: int = 0  # the highest stream sequence delivered


@dataclass(frozen=True)
class StreamState:
    """A JetStream stream's state and limits (0 for a limit means none)."""

    stream: str
    messages: int
    bytes: int
    first_seq: int
    last_seq: int
    max_msgs: int = 0
    max_bytes: int = 0
    max_age_s: float = 0.0
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class UpstreamLoss:
    """Stream sequences the lake never received (discarded, purged or skipped upstream)."""

    stream: str
    first_seq: int
    last_seq: int
    count: int
    cause: str
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class ConnectionState:
    """NATS connection state changes: connected, disconnected, reconnected, closed."""

    state: str
    detail: str = ""
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class CompactionProgress:
    """Progress of a compaction run over several partitions."""

    done: int
    total: int
    current: str
    rows_read: int = 0  # Bronze rows read by the partitions done so far
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class CompactionFinished:
    """One partition compacted (or failed), with the compactor's result."""

    key: str
    result: CompactionResult
    at: float = field(default_factory=_now)
    source: str = ""  # "": a run asked for here; "auto" or "worker host:pid": in the background


@dataclass(frozen=True)
class CompactionQueue:
    """Automatic and queued compaction: jobs queued, running, done and failed (so far)."""

    queued: int
    running: int
    done: int
    failed: int
    last_failure: str = ""  # `key: reason` of the newest failed job
    source: str = "local"  # local: the service's own runs; queue: LAKE_JOBS and its workers
    at: float = field(default_factory=_now)


@dataclass(frozen=True)
class ErrorRaised:
    """A failure somewhere in the service that did not stop it."""

    where: str
    message: str
    at: float = field(default_factory=_now)


Event = (
    BufferCounts
    | Received
    | Flushed
    | Quarantined
    | ConsumerLag
    | StreamState
    | UpstreamLoss
    | ConnectionState
    | CompactionProgress
    | CompactionFinished
    | CompactionQueue
    | ErrorRaised
)
