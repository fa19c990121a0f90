"""PullConsumer: a durable JetStream pull consumer fed by raw pull requests under a fixed credit.

nats-py's ``fetch()`` costs a task and a timeout per message; this consumer instead keeps
one subscription on a private inbox (with direct dispatch, see
`lakeconsole.ingest.protocol`) and publishes raw pull requests
(``$JS.API.CONSUMER.MSG.NEXT``) so that the number of messages requested or held by the
application never exceeds a fixed credit: memory stays bounded whatever the backlog.

It needs only a small `Acker` of its connection: the client (``nc``), durable acks, naks
and state reports. `NATSBus` is one; it creates, registers and stops consumers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol

from nats.aio.client import Client as NATSClient
from nats.aio.subscription import Subscription

from lakeconsole.ingest.messages import Delivery, nak_payload
from lakeconsole.ingest.protocol import direct_subscribe, direct_unsubscribe, parse_status

log = logging.getLogger(__name__)

Handler = Callable[[Delivery], Awaitable[None] | None]
_NS = 1_000_000_000


DEFAULT_MAX_BYTES = 64 * 1024 * 1024
HANDLER_FAILED_DELAY_S = 5.0  # a handler that raised must not spin the message round at once


class Acker(Protocol):
    """What a consumer needs of its connection: the client, acks, naks and state reports."""

    @property
    def nc(self) -> NATSClient: ...

    async def ack_many(self, deliveries: Sequence[Delivery], timeout: float = 5.0) -> int: ...

    async def nak(self, deliveries: Iterable[Delivery], delay: float | None = None) -> None: ...

    def emit(self, state: str, detail: str = "") -> None: ...
# A pull never asks for less than one maximum-size NATS message (1 MiB by default):
# the server answers a pull whose max_bytes is below the next message's size with an error.
MIN_PULL_BYTES = 1024 * 1024


def payload_bytes(deliveries: Sequence[Delivery]) -> int:
    """Total payload size of some deliveries (what releasing them frees)."""
    return sum(len(d.data) for d in deliveries)


def _pull_ended_normally(status: str, text: str) -> bool:
    """No messages, the request expired, or it hit its max_bytes: just pull again."""
    return status in ("404", "408") or (status == "409" and "MaxBytes" in text)


class PullConsumer:
    """A durable pull consumer fed by raw pull requests under a fixed credit.

    Invariants: messages requested from the server but not yet received, plus messages
    handed to the handler but not yet ``release()``d, never exceed ``credit``. Bytes are
    bounded too, so a backlog of large batch messages cannot balloon memory: no pull is made
    while the messages in hand hold ``max_bytes``, and a pull that could bring more than a
    quarter of it (judged by the largest message seen; the very first pull is sized for
    messages of the server's maximum payload) asks for at most that. A batch is a quarter of
    the credit, so about four pulls are live: in hand plus on the way stays under about
    twice ``max_bytes``. Pulls of small messages carry no ``max_bytes``: the server
    delivers noticeably slower to pulls that do.
    """

    def __init__(
        self,
        acker: Acker,
        stream: str,
        durable: str,
        handler: Handler,
        *,
        credit: int,
        batch: int | None,
        expires: float,
        heartbeat: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_stop: Callable[[PullConsumer], None] | None = None,
        recreate: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.acker = acker
        self.stream = stream
        self.durable = durable
        self.credit = max(1, credit)
        self.batch = max(1, min(self.credit, batch or self.credit // 4 or 1))
        self.expires = expires
        self.heartbeat = heartbeat
        self.max_bytes = max(max_bytes, MIN_PULL_BYTES)
        self.pull_bytes = max(self.max_bytes // 4, MIN_PULL_BYTES)
        self._bytes_in_hand = 0
        self._largest_seen = 0
        self._handler = handler
        self._is_async = inspect.iscoroutinefunction(handler)
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._requested = 0
        self._in_hand = 0
        self._live: dict[str, float] = {}  # pull reply subject -> local deadline
        self._req_ids = itertools.count()
        self._inbox = ""
        self._sub: Subscription | None = None
        self._active = False
        self._retry_at = 0.0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self._on_stop = on_stop
        self._recreate = recreate
        self._recovery: asyncio.Task[None] | None = None
        self.stats: dict[str, int] = {
            "delivered": 0, "released": 0, "pulls": 0, "max_outstanding": 0, "resets": 0,
            "status_100": 0, "status_404": 0, "status_408": 0, "status_409": 0,
        }

    # -- public ----------------------------------------------------------------------

    @property
    def in_hand(self) -> int:
        """Messages given to the handler and not yet released."""
        return self._in_hand

    @property
    def requested(self) -> int:
        """Messages asked of the server and not yet received."""
        return self._requested

    @property
    def bytes_in_hand(self) -> int:
        """Payload bytes of the messages in hand."""
        return self._bytes_in_hand

    def release(self, n: int = 1, nbytes: int = 0) -> None:
        """Return credit for ``n`` handled messages of ``nbytes`` payload (after ack/nak)."""
        self._in_hand = max(0, self._in_hand - n)
        self._bytes_in_hand = max(0, self._bytes_in_hand - nbytes)
        self.stats["released"] += n
        self._wake.set()

    async def ack_many(self, deliveries: Sequence[Delivery], timeout: float = 5.0) -> int:
        """Durably ack ``deliveries`` via the acker, then release their credit; return confirmed."""
        try:
            return await self.acker.ack_many(deliveries, timeout=timeout)
        finally:
            self.release(len(deliveries), payload_bytes(deliveries))

    async def nak(self, deliveries: Sequence[Delivery], delay: float | None = None) -> None:
        """Ask for redelivery after ``delay`` seconds, then release their credit (always)."""
        try:
            await self.acker.nak(deliveries, delay=delay)
        finally:
            self.release(len(deliveries), payload_bytes(deliveries))

    async def start(self) -> None:
        """Subscribe the private inbox and start pulling."""
        await self._subscribe()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._pump()), loop.create_task(self._watchdog())]
        self._wake.set()

    async def stop(self) -> None:
        """Stop pulling and unsubscribe; messages already requested are left to redelivery."""
        if self._stopped:
            return
        self._stopped = True
        tasks = [*self._tasks, *([self._recovery] if self._recovery else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._unsubscribe()
        if self._on_stop is not None:
            self._on_stop(self)

    # -- subscription & accounting ----------------------------------------------------

    async def _subscribe(self) -> None:
        self._inbox = self.acker.nc.new_inbox()
        # No local queue limit: the credit, not nats-py, bounds what can pile up here.
        self._sub = await direct_subscribe(self.acker.nc, self._inbox + ".*", self._on_raw)

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            await direct_unsubscribe(self.acker.nc, sub)

    async def reset(self, reason: str) -> None:
        """Forget all pull requests (new inbox so stragglers are dropped) and pull afresh."""
        if self._stopped:
            return
        self.stats["resets"] += 1
        log.info("consumer %s/%s reset: %s", self.stream, self.durable, reason)
        await self._unsubscribe()
        self._live.clear()
        self._requested = 0
        if self.acker.nc.is_connected:
            await self._subscribe()
        self._wake.set()

    def _on_raw(
        self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> Awaitable[None] | None:
        if not reply.startswith(b"$JS.ACK."):
            self._on_status(subject.decode(), headers)
            return None
        self._active = True
        if self._requested > 0:
            self._requested -= 1
            if self._requested == 0:
                self._wake.set()  # a smaller-than-batch pull may now be due
        self._in_hand += 1
        self._bytes_in_hand += len(data)
        if len(data) > self._largest_seen:
            self._largest_seen = len(data)
        self.stats["delivered"] += 1
        tokens = reply.split(b".")
        off = 2 if len(tokens) == 9 else 4
        delivery = Delivery(
            subject.decode(), data, reply.decode(), int(tokens[off + 3]), int(tokens[off + 2])
        )
        try:
            result = self._handler(delivery)
        except Exception as exc:
            return self._handler_failed(delivery, exc)
        if self._is_async:
            return self._await_handler(delivery, result)  # type: ignore[arg-type]
        return None

    async def _await_handler(self, delivery: Delivery, result: Awaitable[None]) -> None:
        try:
            await result
        except Exception as exc:
            await self._handler_failed(delivery, exc)

    async def _handler_failed(self, delivery: Delivery, exc: Exception) -> None:
        # A failing handler must neither leak credit nor park the message until ack_wait.
        self.acker.emit("error", f"handler failed on {delivery.subject}: {exc!r}")
        self.release(1, len(delivery.data))
        with contextlib.suppress(Exception):
            await self.acker.nc.publish(delivery.reply, nak_payload(HANDLER_FAILED_DELAY_S))

    def _on_status(self, inbox_subject: str, headers: bytes | None) -> None:
        self._active = True
        status, text, fields = parse_status(headers)
        if status == "100":
            self.stats["status_100"] += 1
            return
        key = f"status_{status}"
        if key in self.stats:
            self.stats[key] += 1
        if self._live.pop(inbox_subject, None) is None:
            return  # a request we already forgot (reset or local expiry)
        pending = fields.get("Nats-Pending-Messages", "")
        if pending.isdigit():
            self._requested = max(0, self._requested - int(pending))
        if not self._live:
            self._requested = 0  # nothing live: whatever was not delivered never will be
        if not _pull_ended_normally(status, text):
            self.acker.emit("error", f"consumer {self.stream}/{self.durable}: {status} {text}")
            # Back off so a deleted consumer or a full waiting queue is not hammered.
            self._retry_at = time.monotonic() + 1.0
            gone = status == "503" or "Consumer Deleted" in text
            if gone and self._recreate is not None and self._recovery is None:
                self._recovery = asyncio.get_running_loop().create_task(self._recover())
        self._wake.set()

    async def _recover(self) -> None:
        """The durable consumer is gone (deleted by an operator): create it again."""
        assert self._recreate is not None
        try:
            await self._recreate()
            await self.reset("consumer recreated")
            self.acker.emit("connected", f"consumer {self.stream}/{self.durable} recreated")
        except Exception as exc:  # the next failing pull will try again
            log.warning("cannot recreate %s/%s: %s", self.stream, self.durable, exc)
        finally:
            self._recovery = None

    # -- pulling ------------------------------------------------------------------------

    def _wanted(self) -> int:
        if self._bytes_in_hand >= self.max_bytes:
            return 0  # the byte budget is spent: wait for releases
        if self._requested and not self.stats["delivered"]:
            return 0  # learn message sizes from the first, small pull before sizing others
        avail = self.credit - self._in_hand - self._requested
        if avail >= self.batch or (avail > 0 and self._requested == 0):
            return min(self.batch, avail)
        return 0

    def _first_pull_cap(self, n: int, max_payload: int) -> int:
        """Before any message is seen, ask only for what fits the byte share at worst."""
        if self.stats["delivered"]:
            return n
        return max(1, min(n, self.pull_bytes // max(1, max_payload)))

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = self._retry_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._pull_as_needed()

    async def _pull_as_needed(self) -> None:
        nc = self.acker.nc
        while self._sub is not None and nc.is_connected and (n := self._wanted()) > 0:
            reply = f"{self._inbox}.{next(self._req_ids)}"
            n = self._first_pull_cap(n, nc.max_payload)
            request: dict[str, int] = {
                "batch": n,
                "expires": int(self.expires * _NS),
                "idle_heartbeat": int(self.heartbeat * _NS),
            }
            if n * self._largest_seen > self.pull_bytes:
                request["max_bytes"] = self.pull_bytes
            body = json.dumps(request).encode()
            self._live[reply] = time.monotonic() + self.expires + 2 * self.heartbeat
            self._requested += n
            self.stats["pulls"] += 1
            outstanding = self._requested + self._in_hand
            if outstanding > self.stats["max_outstanding"]:
                self.stats["max_outstanding"] = outstanding
            await nc.publish(self._next_subject, body, reply=reply)

    async def _watchdog(self) -> None:
        """Expire forgotten requests; reset if requests are live but the server went silent."""
        silent_ticks = 0
        while True:
            await asyncio.sleep(self.heartbeat)
            now = time.monotonic()
            for reply, deadline in list(self._live.items()):
                if deadline < now:
                    del self._live[reply]
            if not self._live and self._requested:
                self._requested = 0
                self._wake.set()
            silent_ticks = 0 if self._active or not self._live else silent_ticks + 1
            self._active = False
            if silent_ticks >= 3:
                silent_ticks = 0
                await self.reset("no messages or heartbeats for 3 heartbeat intervals")
            elif self._wanted():
                self._wake.set()
