"""The Health tab's live state: stream limits, consumer backlog and upstream losses.

Fed from the same service events as the ConsoleModel (its `apply` forwards here); cheap
under a lock, read by the UI tick.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from lakeconsole import events as ev

WARN_FULL = 0.8  # a stream this full of any limit, while the lake lags, is about to drop data
MAX_LOSSES = 200
# The writers' streams (ingest.bus.stream_for_subject): bronze reads MARKET, gold LEVELS.
STREAM_OF_TIER = {"bronze": "MARKET", "gold": "LEVELS"}


@dataclass(frozen=True)
class Fullness:
    """How full a stream is of one limit."""

    limit: str  # msgs | bytes
    used: int
    maximum: int

    @property
    def ratio(self) -> float:
        """used / maximum (0 when there is no limit)."""
        return self.used / self.maximum if self.maximum > 0 else 0.0


@dataclass(frozen=True)
class HealthSnapshot:
    """A copy of the state for one redraw."""

    streams: tuple[ev.StreamState, ...]
    consumers: tuple[ev.ConsumerLag, ...]
    losses: tuple[ev.UpstreamLoss, ...]
    stream_of: dict[str, str]  # consumer → stream
    version: int

    def warnings(self) -> list[str]:
        """One line per stream over WARN_FULL of a limit while one of its consumers lags."""
        out = []
        for stream in self.streams:
            lagging = [c for c in self.consumers
                       if self.stream_of.get(c.consumer) == stream.stream and c.num_pending > 0]
            if not lagging:
                continue
            for full in fullness(stream):
                if full.ratio > WARN_FULL:
                    who = ", ".join(f"{c.consumer} {c.num_pending:,} pending" for c in lagging)
                    out.append(f"{stream.stream} is {full.ratio:.0%} full of max {full.limit} "
                               f"while the lake lags ({who}): loss is coming")
        return out


def fullness(stream: ev.StreamState) -> list[Fullness]:
    """The stream's message and byte limits that are set, with their use."""
    limits = [Fullness("msgs", stream.messages, stream.max_msgs),
              Fullness("bytes", stream.bytes, stream.max_bytes)]
    return [f for f in limits if f.maximum > 0]


class HealthModel:
    """Latest StreamState per stream, ConsumerLag per consumer, and recent UpstreamLoss."""

    def __init__(self, consumers: dict[str, str] | None = None) -> None:
        self.lock = threading.Lock()
        tiers = consumers or {"lake-bronze": "bronze", "lake-gold": "gold"}
        self.stream_of = {c: STREAM_OF_TIER.get(t, "") for c, t in tiers.items()}
        self.streams: dict[str, ev.StreamState] = {}
        self.consumers: dict[str, ev.ConsumerLag] = {}
        self.losses: deque[ev.UpstreamLoss] = deque(maxlen=MAX_LOSSES)
        self._new_losses: deque[ev.UpstreamLoss] = deque(maxlen=50)
        self.version = 0

    def apply(self, event: ev.Event) -> None:
        """Keep the events this tab shows (cheap; any thread)."""
        if not isinstance(event, (ev.StreamState, ev.ConsumerLag, ev.UpstreamLoss)):
            return
        with self.lock:
            self.version += 1
            if isinstance(event, ev.StreamState):
                self.streams[event.stream] = event
            elif isinstance(event, ev.ConsumerLag):
                self.consumers[event.consumer] = event
                stream = getattr(event, "stream", "")  # if the event names its stream, trust it
                if stream:
                    self.stream_of[event.consumer] = stream
            else:
                self.losses.append(event)
                self._new_losses.append(event)

    def snapshot(self) -> HealthSnapshot:
        """A consistent copy for the UI."""
        with self.lock:
            return HealthSnapshot(tuple(self.streams[k] for k in sorted(self.streams)),
                                  tuple(self.consumers[k] for k in sorted(self.consumers)),
                                  tuple(self.losses), dict(self.stream_of), self.version)

    def drain_losses(self) -> list[ev.UpstreamLoss]:
        """Losses since the last drain, for notifications."""
        with self.lock:
            out = list(self._new_losses)
            self._new_losses.clear()
            return out
