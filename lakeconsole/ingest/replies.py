"""Reply counting for bulk requests: one shared inbox tallies replies per bulk operation.

A bulk JetStream publish or a per-message confirmed ack sends thousands of requests;
awaiting a future per request (nats-py's ``request``) costs a task, a timer and a
subscription lookup each. Instead every bulk operation gets a reply token on one wildcard
inbox (``<inbox>.<operation>.<n>``), each reply just bumps that operation's `Tally`, and
the caller waits (`wait_tally`) until few enough replies are outstanding.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field

from nats.aio.client import Client as NATSClient
from nats.aio.subscription import Subscription

from lakeconsole.ingest.protocol import direct_subscribe, parse_status


@dataclass
class Tally:
    """Replies awaited for one bulk operation on the shared reply inbox."""

    expected: int = 0
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    low_water: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def outstanding(self) -> int:
        return self.expected - self.ok - self.failed

    def settle(self, ok: bool, why: str = "") -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(why)
        if self.outstanding <= self.low_water:
            self.wake.set()


class ReplyInbox:
    """One wildcard inbox subscription that counts replies per bulk operation (no futures/msg)."""

    def __init__(self, nc: NATSClient) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._tallies: dict[str, Tally] = {}
        self._ids = itertools.count()
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await direct_subscribe(self._nc, self._prefix + ".*.*", self._on_reply)

    def open(self) -> tuple[str, Tally]:
        """A fresh reply token (append ``.<n>`` per request) and the tally counting its replies."""
        token = f"{self._prefix}.{next(self._ids)}"
        tally = Tally()
        self._tallies[token] = tally
        return token, tally

    def close(self, token: str) -> None:
        self._tallies.pop(token, None)

    def _on_reply(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        tally = self._tallies.get(subject.rpartition(b".")[0].decode())
        if tally is None:
            return  # a late reply to an operation that already gave up
        code, text, _ = parse_status(headers)
        if code and code != "200":
            tally.settle(False, f"status {code} {text}")
        elif b'"error"' in data:
            tally.settle(False, data.decode("utf-8", "replace")[:200])
        else:
            tally.settle(True)


async def wait_tally(tally: Tally, low_water: int, deadline: float) -> bool:
    """Wait until at most ``low_water`` replies are outstanding; False on deadline."""
    tally.low_water = low_water
    while tally.outstanding > low_water:
        tally.wake.clear()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(tally.wake.wait(), remaining)
    return True
