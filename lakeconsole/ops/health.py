"""Liveness and readiness, kept from service events and a live NATS probe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lakeconsole import events as ev

DEFAULT_FLUSH_FAILING_S = 60.0


def is_storage_failure(where: str) -> bool:
    """Whether an ErrorRaised's `where` names a write to storage."""
    return where in ("storage", "quarantine") or where.startswith("flush ")


@dataclass
class Health:
    """Ready when started, NATS is connected and no storage write fails for too long."""

    flush_failing_s: float = DEFAULT_FLUSH_FAILING_S
    nats_probe: Callable[[], bool] | None = None
    started_probe: Callable[[], bool] | None = None
    clock: Callable[[], float] = time.monotonic
    started: bool = False
    nats_connected: bool = False
    _failing: dict[str, tuple[float, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mark_started(self, started: bool = True) -> None:
        """The service finished (or undid) its start: storage reached, NATS connected."""
        with self._lock:
            self.started = started

    def apply(self, event: ev.Event) -> None:
        """Fold one service event in (cheap; any thread)."""
        with self._lock:
            if isinstance(event, ev.ConnectionState):
                self.nats_connected = event.state in ("connected", "reconnected")
            elif isinstance(event, ev.ErrorRaised) and is_storage_failure(event.where):
                since = self._failing.get(event.where, (self.clock(), ""))[0]
                self._failing[event.where] = (since, event.message)
            elif isinstance(event, ev.Flushed):
                self._failing.pop(f"flush {event.dataset}", None)
            elif isinstance(event, ev.Quarantined):
                self._failing.pop("quarantine", None)

    def problems(self) -> list[str]:
        """Why the service is not ready; empty when it is."""
        with self._lock:
            started = self.started_probe() if self.started_probe is not None else self.started
            out = [] if started else ["service starting: storage or NATS not reached yet"]
            connected = self.nats_probe() if self.nats_probe is not None else self.nats_connected
            if not connected:
                out.append("NATS not connected")
            now = self.clock()
            for where, (since, message) in sorted(self._failing.items()):
                if where == "storage" and started:
                    continue  # the start-up wait for storage is over
                if where == "storage" or now - since >= self.flush_failing_s:
                    out.append(f"storage: {where} failing for {now - since:.0f} s: {message}")
            return out
