"""NATSBus: connection, streams, a fast credit-based pull consumer and durable bulk acks.

nats-py's ``fetch()`` costs a task and a timeout per message; this module instead keeps
one subscription on a private inbox per consumer and publishes raw pull requests
(``$JS.API.CONSUMER.MSG.NEXT``) so that the number of messages requested or held by the
application never exceeds a fixed credit: memory stays bounded whatever the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATSClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from lakeconsole.errors import IngestError
from lakeconsole.ingest.protocol import FastParser

log = logging.getLogger(__name__)

StateCallback = Callable[[str, str], None]
Handler = Callable[["Delivery"], Awaitable[None] | None]

DEFAULT_STREAMS: dict[str, str] = {"market.": "MARKET", "levels.": "LEVELS"}
ACK_PREFIX = "$JS.ACK."
_ACK = b"+ACK"
_NAK = b"-NAK"
_WPI = b"+WPI"
_TERM = b"+TERM"
_NS = 1_000_000_000


class Delivery(NamedTuple):
    """One JetStream message as handed to a consumer handler."""

    subject: str
    data: bytes
    reply: str
    stream_seq: int
    num_delivered: int


def parse_ack_reply(reply: str) -> tuple[str, str, int, int]:
    """Return ``(stream, consumer, num_delivered, stream_seq)`` from a ``$JS.ACK`` subject.

    Handles the 9-token form
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` and the newer
    form with ``<domain>.<account hash>`` after ``ACK`` (11 or 12 tokens).
    """
    tokens = reply.split(".")
    n = len(tokens)
    if n == 9:
        off = 2
    elif n >= 11:
        off = 4
    else:
        raise IngestError(f"not a JetStream ack subject: {reply!r}")
    return tokens[off], tokens[off + 1], int(tokens[off + 2]), int(tokens[off + 3])


def _ack_group(reply: str) -> str:
    """The ``$JS.ACK...<stream>.<consumer>`` prefix: acks are ordered per consumer only."""
    tokens = reply.split(".")
    return ".".join(tokens[:4] if len(tokens) == 9 else tokens[:6])


def stream_for_subject(subject: str) -> tuple[str, str]:
    """The default ``(stream name, subjects wildcard)`` that should capture ``subject``."""
    for prefix, name in DEFAULT_STREAMS.items():
        if subject.startswith(prefix):
            return name, prefix + ">"
    raise IngestError(f"no default stream for subject {subject!r} (expected market.* or levels.*)")


# --------------------------------------------------------------------------- fast dispatch

# (subject, reply, payload, raw headers) -> None or an awaitable to run before the next message
DirectCallback = Callable[[bytes, bytes, bytes, bytes | None], Awaitable[None] | None]


class _FastClient(NATSClient):
    """nats-py client that hands chosen subscriptions' messages straight to a sync callback.

    nats-py builds a Msg, parses headers and goes through a queue and a task per message;
    for the pull inboxes and reply counters that is most of the per-message cost. The hook
    is nats-py's ``_process_msg(sid, subject, reply, data, headers)`` (stable in 2.x; the
    integration tests fail loudly if it changes).
    """

    def __init__(self) -> None:
        super().__init__()
        self.direct: dict[int, DirectCallback] = {}
        self._ps = FastParser(self)

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        direct = self.direct.get(sid)
        if direct is None:
            await super()._process_msg(sid, subject, reply, data, headers)
            return
        stats = self.stats
        stats["in_msgs"] += 1
        stats["in_bytes"] += len(data)
        pending = direct(subject, reply, data, headers)
        if pending is not None:
            await pending


async def _direct_subscribe(nc: NATSClient, subject: str, callback: DirectCallback) -> Subscription:
    """Subscribe ``subject`` with direct dispatch (a Msg callback on plain nats-py clients)."""

    async def via_msg(msg: Msg) -> None:  # only used if nc is not a _FastClient
        raw = _raw_headers(msg.headers)
        pending = callback(msg.subject.encode(), msg.reply.encode(), msg.data, raw)
        if pending is not None:
            await pending

    sub = await nc.subscribe(subject, cb=via_msg, pending_msgs_limit=0, pending_bytes_limit=0)
    if isinstance(nc, _FastClient):
        nc.direct[sub._id] = callback
    return sub


def _raw_headers(headers: dict[str, str] | None) -> bytes | None:
    if not headers:
        return None
    status = headers.get("Status", "")
    lines = [f"NATS/1.0 {status} {headers.get('Description', '')}".rstrip()]
    lines += [f"{k}: {v}" for k, v in headers.items() if k not in ("Status", "Description")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_status(raw: bytes | None) -> tuple[str, str, dict[str, str]]:
    """Split raw ``NATS/1.0 408 Request Timeout\\r\\nK: V...`` headers into (code, text, dict)."""
    if not raw:
        return "", "", {}
    lines = raw.decode("utf-8", "replace").split("\r\n")
    first = lines[0].split(" ", 2)
    code = first[1] if len(first) > 1 else ""
    text = first[2] if len(first) > 2 else ""
    fields: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return code, text, fields


async def _write_raw(nc: NATSClient, commands: list[bytes]) -> None:
    """Queue pre-built protocol lines in one go and kick the flusher (one call, not N)."""
    if commands:
        await nc._send_command(b"".join(commands))
        await nc._flush_pending()


def _chunks(items: Iterable[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _pub_cmd(subject: str, payload: bytes, reply: str = "") -> bytes:
    if reply:
        return f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n"
    return f"PUB {subject} {len(payload)}\r\n".encode() + payload + b"\r\n"


# --------------------------------------------------------------------------- reply counting


@dataclass
class _Tally:
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


class _ReplyInbox:
    """One wildcard inbox subscription that counts replies per bulk operation (no futures/msg)."""

    def __init__(self, nc: NATSClient) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._tallies: dict[str, _Tally] = {}
        self._ids = itertools.count()
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await _direct_subscribe(self._nc, self._prefix + ".*.*", self._on_reply)

    def open(self) -> tuple[str, _Tally]:
        token = f"{self._prefix}.{next(self._ids)}"
        tally = _Tally()
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


async def _wait_tally(tally: _Tally, low_water: int, deadline: float) -> bool:
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


# --------------------------------------------------------------------------- pull consumer


class PullConsumer:
    """A durable pull consumer fed by raw pull requests under a fixed credit.

    Invariant: messages requested from the server but not yet received, plus messages
    handed to the handler but not yet ``release()``d, never exceed ``credit``.
    """

    def __init__(
        self,
        bus: NATSBus,
        stream: str,
        durable: str,
        handler: Handler,
        *,
        credit: int,
        batch: int | None,
        expires: float,
        heartbeat: float,
    ) -> None:
        self.bus = bus
        self.stream = stream
        self.durable = durable
        self.credit = max(1, credit)
        self.batch = max(1, min(self.credit, batch or self.credit // 4 or 1))
        self.expires = expires
        self.heartbeat = heartbeat
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

    def release(self, n: int = 1) -> None:
        """Return credit for ``n`` handled messages (after ack/nak or hand-off)."""
        self._in_hand = max(0, self._in_hand - n)
        self.stats["released"] += n
        self._wake.set()

    async def ack_many(self, deliveries: Sequence[Delivery], timeout: float = 5.0) -> int:
        """Durably ack ``deliveries`` via the bus, then release their credit; return confirmed."""
        try:
            return await self.bus.ack_many(deliveries, timeout=timeout)
        finally:
            self.release(len(deliveries))

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
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._unsubscribe()
        self.bus._consumers.discard(self)

    # -- subscription & accounting ----------------------------------------------------

    async def _subscribe(self) -> None:
        self._inbox = self.bus.nc.new_inbox()
        # No local queue limit: the credit, not nats-py, bounds what can pile up here.
        self._sub = await _direct_subscribe(self.bus.nc, self._inbox + ".*", self._on_raw)

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            nc = self.bus.nc
            if isinstance(nc, _FastClient):
                nc.direct.pop(sub._id, None)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def reset(self, reason: str) -> None:
        """Forget all pull requests (new inbox so stragglers are dropped) and pull afresh."""
        if self._stopped:
            return
        self.stats["resets"] += 1
        log.info("consumer %s/%s reset: %s", self.stream, self.durable, reason)
        await self._unsubscribe()
        self._live.clear()
        self._requested = 0
        if self.bus.nc.is_connected:
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
        self.bus._emit("error", f"handler failed on {delivery.subject}: {exc!r}")
        self.release(1)
        with contextlib.suppress(Exception):
            await self.bus.nc.publish(delivery.reply, _NAK)

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
        if status == "409":
            self.bus._emit("error", f"consumer {self.stream}/{self.durable}: 409 {text}")
            # Back off so a deleted consumer or a full waiting queue is not hammered.
            self._retry_at = time.monotonic() + 1.0
        self._wake.set()

    # -- pulling ------------------------------------------------------------------------

    def _wanted(self) -> int:
        avail = self.credit - self._in_hand - self._requested
        if avail >= self.batch or (avail > 0 and self._requested == 0):
            return min(self.batch, avail)
        return 0

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = self._retry_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._pull_as_needed()

    async def _pull_as_needed(self) -> None:
        nc = self.bus.nc
        while self._sub is not None and nc.is_connected and (n := self._wanted()) > 0:
            reply = f"{self._inbox}.{next(self._req_ids)}"
            body = json.dumps({
                "batch": n,
                "expires": int(self.expires * _NS),
                "idle_heartbeat": int(self.heartbeat * _NS),
            }).encode()
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


# --------------------------------------------------------------------------- the bus


class NATSBus:
    """One NATS connection with JetStream helpers for lakeconsole's ingest side."""

    def __init__(
        self,
        on_state: StateCallback | None = None,
        *,
        name: str = "lakeconsole",
        reconnect_wait: float = 0.5,
        connect_timeout: float = 2.0,
        request_timeout: float = 5.0,
    ) -> None:
        self.on_state = on_state
        self.name = name
        self.reconnect_wait = reconnect_wait
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._nc: NATSClient | None = None
        self._js: JetStreamContext | None = None
        self._replies: _ReplyInbox | None = None
        self._consumers: set[PullConsumer] = set()
        self._closing = asyncio.Event()
        self.url = ""

    # -- connection ------------------------------------------------------------------

    @property
    def nc(self) -> NATSClient:
        """The live nats-py client (raises IngestError before connect)."""
        if self._nc is None:
            raise IngestError("NATSBus is not connected")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """The JetStream context of the connection."""
        if self._js is None:
            raise IngestError("NATSBus is not connected")
        return self._js

    @property
    def is_connected(self) -> bool:
        """True while the client holds an established connection."""
        return self._nc is not None and self._nc.is_connected

    def _emit(self, state: str, detail: str = "") -> None:
        level = logging.WARNING if state in ("disconnected", "error") else logging.INFO
        log.log(level, "nats %s %s", state, detail)
        if self.on_state is not None:
            try:
                self.on_state(state, detail)
            except Exception:
                log.exception("on_state callback failed")

    async def connect(self, url: str) -> None:
        """Connect, retrying forever (reporting each failure) until connected or closed."""
        self.url = url
        self._closing.clear()
        while not self._closing.is_set():
            nc = _FastClient()
            try:
                connected = await self._connect_or_close(nc, url)
            except Exception as exc:  # e.g. a malformed URL: report it and keep trying
                self._emit("disconnected", f"connect to {url} failed: {exc!r}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.reconnect_wait)
                continue
            if not connected:
                break
            self._nc = nc
            self._js = nc.jetstream(timeout=self.request_timeout)
            self._replies = _ReplyInbox(nc)
            await self._replies.start()
            self._emit("connected", url)
            return
        raise IngestError(f"closed before a connection to {url} was made")

    async def _connect_or_close(self, nc: NATSClient, url: str) -> bool:
        """Run nats-py's connect (which itself retries forever) until it succeeds or close()."""
        connecting = asyncio.ensure_future(nc.connect(
            url,
            name=self.name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self.reconnect_wait,  # type: ignore[arg-type]
            connect_timeout=self.connect_timeout,  # type: ignore[arg-type]
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            closed_cb=self._on_closed,
            pending_size=64 * 1024 * 1024,
        ))
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({connecting, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if connecting.done():
            connecting.result()
            return True
        connecting.cancel()
        with contextlib.suppress(BaseException):
            await connecting
        with contextlib.suppress(Exception):
            await nc.close()
        return False

    async def _on_error(self, exc: Exception) -> None:
        if self._nc is None:  # still in the first connect: that is a disconnected state
            self._emit("disconnected", f"connect to {self.url} failed: {exc!r}")
        else:
            self._emit("error", repr(exc))

    async def _on_disconnected(self) -> None:
        if not self._closing.is_set():
            self._emit("disconnected", self.url)

    async def _on_reconnected(self) -> None:
        self._emit("reconnected", self.url)
        for consumer in list(self._consumers):
            await consumer.reset("reconnected")

    async def _on_closed(self) -> None:
        self._emit("closed", self.url)

    async def close(self) -> None:
        """Stop consumers, flush pending acks and close the connection."""
        self._closing.set()
        for consumer in list(self._consumers):
            await consumer.stop()
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        with contextlib.suppress(Exception):
            await nc.flush(timeout=2)
        await nc.close()

    # -- streams and consumers ---------------------------------------------------------

    async def ensure_streams(self, subjects: Iterable[str]) -> dict[str, str]:
        """Map each subject to the stream capturing it, creating MARKET/LEVELS when missing."""
        found: dict[str, str] = {}
        for subject in subjects:
            try:
                found[subject] = await self.js.find_stream_name_by_subject(subject)
                continue
            except nats.js.errors.NotFoundError:
                pass
            name, wildcard = stream_for_subject(subject)
            try:
                await self.js.add_stream(
                    StreamConfig(name=name, subjects=[wildcard], storage=StorageType.FILE)
                )
            except nats.js.errors.Error as exc:
                raise IngestError(f"cannot create stream {name} ({wildcard}): {exc}") from exc
            found[subject] = name
        return found

    async def pull_consumer(
        self,
        stream: str,
        durable: str,
        filter_subjects: Sequence[str],
        handler: Handler,
        *,
        credit: int = 20_000,
        batch: int | None = None,
        ack_wait: float = 60.0,
        max_ack_pending: int = 20_000,
        expires: float = 30.0,
        heartbeat: float = 5.0,
    ) -> PullConsumer:
        """Create or bind durable ``durable`` on ``stream`` and start delivering to ``handler``.

        ``handler`` (sync or async) gets each :class:`Delivery`; call ``consumer.release(n)``
        (or ``consumer.ack_many``) once messages are done with, or pulling stops at ``credit``.
        """
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_ack_pending=max_ack_pending,
            max_deliver=-1,
            filter_subjects=list(filter_subjects) if len(filter_subjects) > 1 else None,
            filter_subject=filter_subjects[0] if len(filter_subjects) == 1 else None,
        )
        try:
            await self.js.add_consumer(stream, config)
        except (nats.js.errors.Error, nats.errors.Error) as exc:
            raise IngestError(f"cannot create consumer {stream}/{durable}: {exc}") from exc
        heartbeat = min(heartbeat, expires / 3)
        consumer = PullConsumer(
            self, stream, durable, handler,
            credit=credit, batch=batch, expires=expires, heartbeat=heartbeat,
        )
        self._consumers.add(consumer)
        await consumer.start()
        return consumer

    async def consumer_lag(self, stream: str, durable: str) -> dict[str, int]:
        """Backlog figures of a durable consumer as reported by the server."""
        try:
            info = await self.js.consumer_info(stream, durable)
        except (nats.js.errors.Error, nats.errors.Error) as exc:
            raise IngestError(f"cannot read consumer {stream}/{durable}: {exc}") from exc
        return {
            "num_pending": info.num_pending or 0,
            "num_ack_pending": info.num_ack_pending or 0,
            "num_redelivered": info.num_redelivered or 0,
            "num_waiting": info.num_waiting or 0,
            "delivered_seq": info.delivered.stream_seq if info.delivered else 0,
            "ack_floor_seq": info.ack_floor.stream_seq if info.ack_floor else 0,
        }

    # -- acknowledgements ------------------------------------------------------------------

    async def ack_many(
        self, deliveries: Sequence[Delivery], timeout: float = 5.0, *, confirm: str = "last"
    ) -> int:
        """Ack ``deliveries`` and return how many the server confirmed (0..len).

        ``confirm="last"`` (default, fast): publish ``+ACK`` for each message, then ack the
        last message of each consumer as a request: the server handles a consumer's acks
        from one connection in order, so its reply confirms all earlier ones. A timeout or a
        reconnect during the call counts the whole group as not acked (it will be
        redelivered: at-least-once). ``confirm="each"``: every ack is a request and
        exactly the replied ones are counted (about half the throughput).
        """
        if not deliveries:
            return 0
        if confirm == "each":
            return await self._request_each([d.reply for d in deliveries], _ACK, timeout)
        groups: dict[str, list[str]] = {}
        for d in deliveries:
            groups.setdefault(_ack_group(d.reply), []).append(d.reply)
        results = await asyncio.gather(
            *(self._ack_group_last(replies, timeout) for replies in groups.values())
        )
        return sum(results)

    async def _ack_group_last(self, replies: list[str], timeout: float) -> int:
        nc = self.nc
        reconnects = nc.stats["reconnects"]
        await _write_raw(nc, [f"PUB {r} 4\r\n+ACK\r\n".encode() for r in replies[:-1]])
        try:
            await nc.request(replies[-1], _ACK, timeout=timeout)
        except (nats.errors.Error, TimeoutError) as exc:
            self._emit("error", f"ack of {len(replies)} messages not confirmed: {exc!r}")
            return 0
        if nc.stats["reconnects"] != reconnects:
            # Acks written before the drop may be lost even though the last one landed.
            return 0
        return len(replies)

    async def _request_each(self, subjects: Sequence[str], payload: bytes, timeout: float) -> int:
        replies = self._replies
        if replies is None:
            raise IngestError("NATSBus is not connected")
        token, tally = replies.open()
        try:
            tally.expected = len(subjects)
            await _write_raw(
                self.nc,
                [_pub_cmd(subject, payload, f"{token}.{i}") for i, subject in enumerate(subjects)],
            )
            await _wait_tally(tally, 0, time.monotonic() + timeout)
            return tally.ok
        finally:
            replies.close(token)

    async def _signal(self, deliveries: Iterable[Delivery], payload: bytes) -> None:
        try:
            await _write_raw(self.nc, [_pub_cmd(d.reply, payload) for d in deliveries])
            await self.nc.flush(timeout=int(self.request_timeout))
        except (nats.errors.Error, TimeoutError) as exc:
            verb = payload[:4].decode()
            raise IngestError(f"{verb} not delivered to the server: {exc!r}") from exc

    async def nak(self, deliveries: Iterable[Delivery], delay: float | None = None) -> None:
        """Ask for redelivery (after ``delay`` seconds if given)."""
        payload = _NAK if delay is None else _NAK + b' {"delay": %d}' % int(delay * _NS)
        await self._signal(deliveries, payload)

    async def in_progress(self, deliveries: Iterable[Delivery]) -> None:
        """Reset the ack deadline (``+WPI``) of messages still waiting in a buffer."""
        await self._signal(deliveries, _WPI)

    async def term(self, deliveries: Iterable[Delivery]) -> None:
        """Tell the server never to redeliver these messages."""
        await self._signal(deliveries, _TERM)

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, subject: str, payload: bytes) -> int:
        """JetStream publish awaiting the server's ack; return the stream sequence."""
        try:
            ack = await self.js.publish(subject, payload)
        except (nats.js.errors.Error, nats.errors.Error) as exc:
            raise IngestError(f"publish to {subject} failed: {exc!r}") from exc
        return int(ack.seq)

    async def publish_many(
        self,
        items: Iterable[tuple[str, bytes]],
        *,
        confirm: bool = True,
        window: int = 8192,
        timeout: float = 30.0,
    ) -> int:
        """Publish many ``(subject, payload)`` pairs; return how many were stored/sent.

        ``confirm=True``: JetStream publishes whose acks are counted on one shared inbox,
        with at most ``window`` unacknowledged at a time; raises IngestError if any publish
        is rejected or not acked in time. ``confirm=False``: core-NATS publishes and one
        final flush (fastest; the stream captures them but storage is not confirmed).
        """
        nc = self.nc
        if not confirm:
            count = 0
            for chunk in _chunks(items, 1000):
                await _write_raw(nc, [_pub_cmd(subject, payload) for subject, payload in chunk])
                count += len(chunk)
            await nc.flush(timeout=int(timeout))
            return count
        return await self._publish_confirmed(items, window, timeout)

    async def _publish_confirmed(
        self, items: Iterable[tuple[str, bytes]], window: int, timeout: float
    ) -> int:
        replies = self._replies
        if replies is None:
            raise IngestError("NATSBus is not connected")
        token, tally = replies.open()
        deadline = time.monotonic() + timeout
        chunk = max(1, min(1000, window // 4))
        seq = itertools.count()
        try:
            for group in _chunks(items, chunk):
                if tally.outstanding + len(group) > window and not await _wait_tally(
                    tally, window // 2, deadline
                ):
                    break
                tally.expected += len(group)
                await _write_raw(
                    self.nc, [_pub_cmd(subj, data, f"{token}.{next(seq)}") for subj, data in group]
                )
            await _wait_tally(tally, 0, deadline)
        finally:
            replies.close(token)
        if tally.failed or tally.outstanding:
            raise IngestError(
                f"publish_many: {tally.ok} stored, {tally.failed} rejected, "
                f"{tally.outstanding} unconfirmed; first errors: {tally.errors}"
            )
        return tally.ok


async def connect_bus(url: str, on_state: StateCallback | None = None, **kwargs: Any) -> NATSBus:
    """Convenience: build a NATSBus and connect it."""
    bus = NATSBus(on_state, **kwargs)
    await bus.connect(url)
    return bus


__all__ = [
    "Delivery",
    "NATSBus",
    "PullConsumer",
    "connect_bus",
    "parse_ack_reply",
    "stream_for_subject",
]
