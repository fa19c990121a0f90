"""NATSBus: lakeconsole's one NATS connection, its JetStream streams, bulk acks and publishes.

The bus connects (retrying and reporting each state change), makes sure the MARKET/LEVELS
streams exist, creates durable `PullConsumer`s and acknowledges or publishes messages in
bulk. The pieces it builds on live in their own modules: the wire-level shortcuts in
`lakeconsole.ingest.protocol`, the ``$JS.ACK`` vocabulary and `Delivery` in
`lakeconsole.ingest.messages`, shared-inbox reply counting in `lakeconsole.ingest.replies`
and the credit-based consumer in `lakeconsole.ingest.consumer`. Names other modules
imported from here before that split are re-exported (see ``__all__``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATSClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DiscardPolicy, StorageType, StreamConfig

from lakeconsole import events as ev
from lakeconsole.errors import IngestError
from lakeconsole.ingest.consumer import DEFAULT_MAX_BYTES, Handler, PullConsumer
from lakeconsole.ingest.messages import (
    ACK,
    Delivery,
    ack_group,
    nak_payload,
    parse_ack_reply,
)
from lakeconsole.ingest.protocol import new_client, parse_status, publish_all
from lakeconsole.ingest.replies import ReplyInbox, wait_tally
from lakeconsole.ops.backoff import Backoff

log = logging.getLogger(__name__)

StateCallback = Callable[[str, str], None]

DEFAULT_STREAMS: dict[str, str] = {"market.": "MARKET", "levels.": "LEVELS"}
RECONNECT_MAX_S = 30.0  # the cap of the connect/reconnect backoff


@dataclass(frozen=True)
class StreamLimits:
    """Retention of a stream: age in seconds (0 = none), bytes and messages (-1 = none)."""

    max_age_s: float = 0.0
    max_bytes: int = -1
    max_msgs: int = -1

    def describe(self) -> str:
        """`max_age=7d max_bytes=10.0GiB max_msgs=unlimited`."""
        age = f"{self.max_age_s / 86400:g}d" if self.max_age_s else "unlimited"
        size = f"{self.max_bytes / 2**30:.1f}GiB" if self.max_bytes > 0 else "unlimited"
        msgs = f"{self.max_msgs:,}" if self.max_msgs > 0 else "unlimited"
        return f"max_age={age} max_bytes={size} max_msgs={msgs}"


def stream_for_subject(subject: str) -> tuple[str, str]:
    """The default ``(stream name, subjects wildcard)`` that should capture ``subject``."""
    for prefix, name in DEFAULT_STREAMS.items():
        if subject.startswith(prefix):
            return name, prefix + ">"
    raise IngestError(f"no default stream for subject {subject!r} (expected market.* or levels.*)")


def _by_consumer(deliveries: Sequence[Delivery]) -> dict[str, list[str]]:
    """Reply subjects grouped by consumer (acks are ordered per consumer only)."""
    replies = [d.reply for d in deliveries]
    first = ack_group(replies[0])
    prefix = first + "."
    # The usual case, one consumer, costs a startswith per message instead of a split.
    if all(r.startswith(prefix) for r in replies):
        return {first: replies}
    groups: dict[str, list[str]] = {}
    for reply in replies:
        groups.setdefault(ack_group(reply), []).append(reply)
    return groups


def _chunks(items: Iterable[tuple[str, bytes]], size: int) -> Iterator[list[tuple[str, bytes]]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


class NATSBus:
    """One NATS connection with JetStream helpers for lakeconsole's ingest side."""

    def __init__(
        self,
        on_state: StateCallback | None = None,
        *,
        name: str = "lakeconsole",
        reconnect_wait: float = 0.5,
        reconnect_max: float = RECONNECT_MAX_S,
        connect_timeout: float = 2.0,
        request_timeout: float = 5.0,
    ) -> None:
        self.on_state = on_state
        self.name = name
        self.reconnect_wait = reconnect_wait
        # Waits between tries grow from reconnect_wait to reconnect_max (nats-py's own
        # wait is fixed: its option is raised after each failure, reset on success).
        self.backoff = Backoff(reconnect_wait, max(reconnect_wait, reconnect_max))
        self._state = ""  # the last state reported: repeats of it are logged at debug only
        self._connecting: NATSClient | None = None
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self._nc: NATSClient | None = None
        self._js: JetStreamContext | None = None
        self._replies: ReplyInbox | None = None
        self._consumers: set[PullConsumer] = set()
        self._reported: set[str] = set()  # streams whose limits were logged
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

    def emit(self, state: str, detail: str = "") -> None:
        """Log a connection/consumer state change and pass it to ``on_state``.

        With an ``on_state`` listener the listener reports it (the service logs each event
        once), so the bus's own line is only a debug one.
        """
        self._state = state
        level = logging.WARNING if state in ("disconnected", "error") else logging.INFO
        log.log(logging.DEBUG if self.on_state is not None else level,
                "nats %s %s", state, detail)
        if self.on_state is not None:
            try:
                self.on_state(state, detail)
            except Exception:
                log.exception("on_state callback failed")

    async def connect(self, url: str) -> None:
        """Connect, retrying forever (reporting each failure) until connected or closed."""
        self.url = url
        self._closing.clear()
        self.backoff.reset()
        while not self._closing.is_set():
            nc = self._connecting = new_client()
            try:
                connected = await self._connect_or_close(nc, url)
            except Exception as exc:  # e.g. a malformed URL: report it and keep trying
                pause = self.backoff.next()
                self._unreachable(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), pause)
                continue
            finally:
                self._connecting = None
            if not connected:
                break
            self._nc = nc
            self._js = nc.jetstream(timeout=self.request_timeout)
            self._replies = ReplyInbox(nc)
            await self._replies.start()
            self._reset_backoff(nc)
            self.emit("connected", url)
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
        try:
            await connecting
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the abandoned attempt's own failure: worth a debug line
            log.debug("abandoned connect to %s ended with %r", url, exc)
        with contextlib.suppress(Exception):
            await nc.close()
        return False

    async def _on_error(self, exc: Exception) -> None:
        nc = self._nc or self._connecting
        if nc is not None and not nc.is_connected:  # a failed (re)connect attempt
            # nats-py reads this option before each next try: that is the backoff.
            nc.options["reconnect_time_wait"] = self.backoff.next()
            self._unreachable(exc)
        else:
            self.emit("error", repr(exc))

    def _unreachable(self, exc: BaseException) -> None:
        """Report the server unreachable once per outage; later tries are debug lines."""
        if self._state == "disconnected":
            log.debug("NATS still unreachable at %s: %r", self.url, exc)
            return
        self.emit("disconnected", f"unreachable at {self.url}: {exc!r}; retrying with "
                                  f"backoff up to {self.backoff.cap:g} s")

    def _reset_backoff(self, nc: NATSClient) -> None:
        self.backoff.reset()
        nc.options["reconnect_time_wait"] = self.backoff.first

    async def _on_disconnected(self) -> None:
        if not self._closing.is_set() and self._state != "disconnected":
            self.emit("disconnected", f"from {self.url}; reconnecting with backoff up to "
                                      f"{self.backoff.cap:g} s")

    async def _on_reconnected(self) -> None:
        if self._nc is not None:
            self._reset_backoff(self._nc)
        self.emit("reconnected", self.url)
        for consumer in list(self._consumers):
            await consumer.reset("reconnected")

    async def _on_closed(self) -> None:
        self.emit("closed", self.url)

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

    async def ensure_streams(
        self, subjects: Iterable[str], limits: StreamLimits | None = None
    ) -> dict[str, str]:
        """Map each subject to the stream capturing it, creating MARKET/LEVELS when missing.

        A created stream gets `limits`; a stream that already exists is never changed (it
        is someone else's), only its limits are reported, once.
        """
        limits = limits or StreamLimits()
        found: dict[str, str] = {}
        for subject in subjects:
            try:
                found[subject] = await self.js.find_stream_name_by_subject(subject)
            except nats.js.errors.NotFoundError:
                found[subject] = await self._create_stream(subject, limits)
            else:
                await self._report_stream(found[subject])
        return found

    async def _create_stream(self, subject: str, limits: StreamLimits) -> str:
        name, wildcard = stream_for_subject(subject)
        config = StreamConfig(
            name=name, subjects=[wildcard], storage=StorageType.FILE,
            max_age=limits.max_age_s, max_bytes=limits.max_bytes, discard=DiscardPolicy.OLD,
        )
        try:
            await self.js.add_stream(config)
        except nats.js.errors.Error as exc:
            # Another service or a producer may have created it since we looked: use theirs.
            try:
                theirs = await self.js.find_stream_name_by_subject(subject)
            except nats.js.errors.NotFoundError:
                raise IngestError(f"cannot create stream {name} ({wildcard}): {exc}") from exc
            await self._report_stream(theirs)
            return theirs
        log.info("created stream %s (%s): %s", name, wildcard, limits.describe())
        self._reported.add(name)
        return name

    async def _report_stream(self, name: str) -> None:
        if name in self._reported:
            return
        self._reported.add(name)
        try:
            config = (await self.js.stream_info(name)).config
        except (nats.js.errors.Error, nats.errors.Error) as exc:
            log.warning("cannot read the limits of stream %s: %r", name, exc)
            return
        found = StreamLimits(config.max_age or 0.0, config.max_bytes or -1,
                             config.max_msgs or -1)
        log.info("found stream %s (left as it is): %s", name, found.describe())

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
        max_bytes: int = DEFAULT_MAX_BYTES,
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

        async def create() -> None:
            try:
                await self.js.add_consumer(stream, config)
            except (nats.js.errors.Error, nats.errors.Error) as exc:
                raise IngestError(f"cannot create consumer {stream}/{durable}: {exc}") from exc

        await create()
        heartbeat = min(heartbeat, expires / 3)
        consumer = PullConsumer(
            self, stream, durable, handler,
            credit=credit, batch=batch, expires=expires, heartbeat=heartbeat, max_bytes=max_bytes,
            on_stop=self._consumers.discard, recreate=create,
        )
        self._consumers.add(consumer)
        await consumer.start()
        return consumer

    async def stream_state(self, name: str) -> ev.StreamState:
        """A stream's state and limits as the server reports them (0 for no limit)."""
        try:
            info = await self.js.stream_info(name)
        except (nats.js.errors.Error, nats.errors.Error) as exc:
            raise IngestError(f"cannot read stream {name}: {exc}") from exc
        state, config = info.state, info.config
        return ev.StreamState(
            name, state.messages or 0, state.bytes or 0, state.first_seq or 0,
            state.last_seq or 0, max(config.max_msgs or 0, 0), max(config.max_bytes or 0, 0),
            max(config.max_age or 0.0, 0.0))

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
            return await self._request_each([d.reply for d in deliveries], ACK, timeout)
        groups = _by_consumer(deliveries)
        results = await asyncio.gather(
            *(self._ack_group_last(replies, timeout) for replies in groups.values())
        )
        return sum(results)

    async def _ack_group_last(self, replies: list[str], timeout: float) -> int:
        nc = self.nc
        reconnects = nc.stats["reconnects"]
        await publish_all(nc, [(r, ACK, "") for r in replies[:-1]])
        try:
            await nc.request(replies[-1], ACK, timeout=timeout)
        except (nats.errors.Error, TimeoutError) as exc:
            self.emit("error", f"ack of {len(replies)} messages not confirmed: {exc!r}")
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
            await publish_all(
                self.nc, [(subject, payload, f"{token}.{i}") for i, subject in enumerate(subjects)]
            )
            await wait_tally(tally, 0, time.monotonic() + timeout)
            return tally.ok
        finally:
            replies.close(token)

    async def _signal(self, deliveries: Iterable[Delivery], payload: bytes) -> None:
        try:
            await publish_all(self.nc, [(d.reply, payload, "") for d in deliveries])
            await self.nc.flush(timeout=int(self.request_timeout))
        except (nats.errors.Error, TimeoutError) as exc:
            verb = payload[:4].decode()
            raise IngestError(f"{verb} not delivered to the server: {exc!r}") from exc

    async def nak(self, deliveries: Iterable[Delivery], delay: float | None = None) -> None:
        """Ask for redelivery (after ``delay`` seconds if given)."""
        await self._signal(deliveries, nak_payload(delay))

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
                await publish_all(nc, [(subject, payload, "") for subject, payload in chunk])
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
                if tally.outstanding + len(group) > window and not await wait_tally(
                    tally, window // 2, deadline
                ):
                    break
                tally.expected += len(group)
                await publish_all(
                    self.nc, [(subj, data, f"{token}.{next(seq)}") for subj, data in group]
                )
            await wait_tally(tally, 0, deadline)
        finally:
            replies.close(token)
        if tally.failed or tally.outstanding:
            raise IngestError(
                f"publish_many: {tally.ok} stored, {tally.failed} rejected, "
                f"{tally.outstanding} unconfirmed; first errors: {tally.errors}"
            )
        return tally.ok


__all__ = [
    "DEFAULT_STREAMS",
    "Delivery",
    "Handler",
    "NATSBus",
    "PullConsumer",
    "StateCallback",
    "parse_ack_reply",
    "parse_status",
    "stream_for_subject",
]
