"""NATS transport against a real nats-server: embedded server, streams, pull consumer, acks."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from lakeconsole.errors import IngestError
from lakeconsole.ingest.bus import (
    Delivery,
    NATSBus,
    PullConsumer,
    StreamLimits,
    parse_ack_reply,
    parse_status,
)
from lakeconsole.ingest.embedded import EmbeddedNATS, free_port

pytestmark = pytest.mark.timeout(60)

TRADES = "market.stocks.trades"


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``cond`` until true or fail the test."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)


# The project's default fixture loop is session-wide; a connection must live on the test's loop.
@pytest_asyncio.fixture(loop_scope="function")
async def bus(nats_url: str) -> AsyncIterator[NATSBus]:
    b = NATSBus()
    await b.connect(nats_url)
    yield b
    await b.close()


def payloads(n: int, subject: str = TRADES) -> list[tuple[str, bytes]]:
    return [(subject, b'{"i": %d}' % i) for i in range(n)]


class Collector:
    """A handler that keeps deliveries and optionally releases credit at once."""

    def __init__(self, auto_release: PullConsumer | None = None) -> None:
        self.got: list[Delivery] = []
        self.consumer = auto_release
        self.max_in_hand = 0

    def __call__(self, d: Delivery) -> None:
        self.got.append(d)
        if self.consumer is not None:
            self.max_in_hand = max(self.max_in_hand, self.consumer.in_hand)


# --------------------------------------------------------------------------- pure helpers


def test_acks_are_grouped_by_consumer() -> None:
    """One consumer: one group in order; mixed consumers (and reply forms): split apart."""
    from lakeconsole.ingest.bus import _by_consumer

    def d(reply: str) -> Delivery:
        return Delivery("market.stocks.trades", b"{}", reply, 1, 1)

    same = [d(f"$JS.ACK.MARKET.lake-bronze.1.{i}.{i}.17.0") for i in range(5)]
    assert _by_consumer(same) == {"$JS.ACK.MARKET.lake-bronze": [x.reply for x in same]}
    other = d("$JS.ACK.MARKET.lake-bronze-2.1.9.9.17.0")  # a prefix of it is not the same
    v2 = d("$JS.ACK.hub.ACC.MARKET.lake-bronze.1.7.7.17.0.xyz")
    groups = _by_consumer([*same[:2], other, v2])
    assert groups == {
        "$JS.ACK.MARKET.lake-bronze": [same[0].reply, same[1].reply],
        "$JS.ACK.MARKET.lake-bronze-2": [other.reply],
        "$JS.ACK.hub.ACC.MARKET.lake-bronze": [v2.reply],
    }


def test_parse_ack_reply_both_forms() -> None:
    assert parse_ack_reply("$JS.ACK.MARKET.lake-bronze.2.1234.55.1700000000000000000.9") == (
        "MARKET", "lake-bronze", 2, 1234,
    )
    v2 = "$JS.ACK.hub.ACCHASH.MARKET.lake-bronze.1.77.3.1700000000000000000.0.xyz"
    assert parse_ack_reply(v2) == ("MARKET", "lake-bronze", 1, 77)
    with pytest.raises(IngestError):
        parse_ack_reply("_INBOX.abc")


def test_parse_status() -> None:
    raw = (b"NATS/1.0 408 Request Timeout\r\n"
           b"Nats-Pending-Messages: 7\r\nNats-Pending-Bytes: 9\r\n\r\n")
    code, text, fields = parse_status(raw)
    assert (code, text, fields["Nats-Pending-Messages"]) == ("408", "Request Timeout", "7")


# --------------------------------------------------------------------------- embedded server


def test_embedded_start_stop_restart(tmp_path: Path) -> None:
    server = EmbeddedNATS(tmp_path / "js")
    with server:
        assert server.running and server.url == f"nats://127.0.0.1:{server.port}"
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            assert sock.recv(4) == b"INFO"
        port = server.port
        server.restart()
        assert server.running and server.port == port
    assert not server.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert (tmp_path / "js" / "jetstream").is_dir()


def test_embedded_port_clash_is_a_clear_error(tmp_path: Path, nats_server: EmbeddedNATS) -> None:
    clash = EmbeddedNATS(tmp_path / "other", port=nats_server.port)
    with pytest.raises(IngestError, match="server output tail"):
        clash.start()
    assert not clash.running
    assert nats_server.running


async def test_connect_retries_until_server_appears(tmp_path: Path) -> None:
    port = free_port()
    states: list[tuple[str, str]] = []
    b = NATSBus(lambda s, d: states.append((s, d)), reconnect_wait=0.1)
    task = asyncio.create_task(b.connect(f"nats://127.0.0.1:{port}"))
    await wait_for(lambda: b.backoff.attempts >= 3, what="retries")
    assert not task.done()
    # One state change reported, however many tries (they back off, logged at debug).
    assert [s for s, _ in states] == ["disconnected"]
    assert "retrying with backoff up to 30 s" in states[0][1]
    with EmbeddedNATS(tmp_path / "late", port=port):
        await asyncio.wait_for(task, 10)
        assert b.is_connected and states[-1][0] == "connected"
        await b.close()
    assert ("closed", b.url) in states


async def test_close_aborts_a_pending_connect() -> None:
    b = NATSBus(reconnect_wait=0.05)
    task = asyncio.create_task(b.connect(f"nats://127.0.0.1:{free_port()}"))
    await asyncio.sleep(0.3)
    await b.close()
    with pytest.raises(IngestError, match="closed before"):
        await asyncio.wait_for(task, 5)


# --------------------------------------------------------------------------- streams


async def test_ensure_streams_creates_market_and_levels(bus: NATSBus) -> None:
    subjects = [TRADES, "market.futures.mbp10", "levels.signals"]
    mapping = await bus.ensure_streams(subjects)
    assert mapping == {TRADES: "MARKET", "market.futures.mbp10": "MARKET",
                       "levels.signals": "LEVELS"}
    info = await bus.js.stream_info("MARKET")
    assert info.config.subjects == ["market.>"]
    assert str(getattr(info.config.storage, "value", info.config.storage)) == "file"
    assert await bus.ensure_streams(subjects) == mapping  # idempotent


async def test_created_streams_get_the_limits(bus: NATSBus) -> None:
    limits = StreamLimits(max_age_s=3600.0, max_bytes=64 * 2**20)
    await bus.ensure_streams([TRADES, "levels.signals"], limits)
    for name in ("MARKET", "LEVELS"):
        config = (await bus.js.stream_info(name)).config
        assert (config.max_age, config.max_bytes) == (3600.0, 64 * 2**20)
        assert str(getattr(config.discard, "value", config.discard)) == "old"


async def test_ensure_streams_finds_existing_stream_and_leaves_it_alone(
    bus: NATSBus, caplog: pytest.LogCaptureFixture
) -> None:
    await bus.js.add_stream(name="FEED", subjects=["market.>"], max_msgs=500)
    caplog.set_level(logging.INFO, logger="lakeconsole.ingest.bus")
    limits = StreamLimits(max_age_s=60.0, max_bytes=2**20)
    assert await bus.ensure_streams([TRADES], limits) == {TRADES: "FEED"}
    names = {i.config.name for i in await bus.js.streams_info()}
    assert names == {"FEED"}
    config = (await bus.js.stream_info("FEED")).config
    assert (config.max_age or 0, config.max_msgs) == (0, 500)  # not changed
    assert "found stream FEED (left as it is): max_age=unlimited" in caplog.text
    assert "max_msgs=500" in caplog.text


async def test_services_starting_together_on_an_empty_server_agree_on_the_stream(
    nats_url: str,
) -> None:
    # Each finds no stream and creates one with its own limits; the server takes the first
    # and refuses the others (a different config), which then use the one that won.
    buses = [NATSBus() for _ in range(8)]
    for b in buses:
        await b.connect(nats_url)
    try:
        found = await asyncio.gather(*(b.ensure_streams([TRADES], StreamLimits(60.0 * (i + 1)))
                                       for i, b in enumerate(buses)))
        assert found == [{TRADES: "MARKET"}] * len(buses)
    finally:
        for b in buses:
            await b.close()


async def test_ensure_streams_rejects_foreign_subject(bus: NATSBus) -> None:
    with pytest.raises(IngestError, match="no default stream"):
        await bus.ensure_streams(["weather.rain"])


# --------------------------------------------------------------------------- consumer


async def test_pull_consumer_receives_everything_in_order(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES, "market.futures.trades"])
    n = 3000
    items = payloads(n // 2) + payloads(n // 2, "market.futures.trades")
    assert await bus.publish_many(items) == n
    collect = Collector()
    consumer = await bus.pull_consumer(
        "MARKET", "lake-bronze", [TRADES, "market.futures.trades"], collect, credit=500
    )
    collect.consumer = consumer
    while len(collect.got) < n:
        await wait_for(lambda: consumer.in_hand > 0 or len(collect.got) >= n, what="messages")
        consumer.release(consumer.in_hand)
    assert [d.stream_seq for d in collect.got] == list(range(1, n + 1))
    assert [(d.subject, d.data) for d in collect.got] == items
    assert all(d.num_delivered == 1 and d.reply.startswith("$JS.ACK.MARKET.lake-bronze.")
               for d in collect.got)
    assert collect.max_in_hand <= 500


async def test_filter_subjects_are_honoured(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    await bus.publish_many(payloads(10) + payloads(10, "market.stocks.quotes"))
    collect = Collector()
    consumer = await bus.pull_consumer("MARKET", "quotes-only", ["market.stocks.quotes"], collect)
    await wait_for(lambda: len(collect.got) == 10)
    await asyncio.sleep(0.2)
    assert {d.subject for d in collect.got} == {"market.stocks.quotes"}
    assert len(collect.got) == 10 and consumer.in_hand == 10


async def test_flow_control_never_exceeds_credit(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    await bus.publish_many(payloads(1000))
    collect = Collector()
    consumer = await bus.pull_consumer("MARKET", "fc", [TRADES], collect, credit=50, batch=20)
    collect.consumer = consumer
    await wait_for(lambda: consumer.in_hand == 50, what="credit filled")
    await asyncio.sleep(0.3)  # the server must not push more while nothing is released
    assert len(collect.got) == 50 and consumer.requested == 0
    lag = await bus.consumer_lag("MARKET", "fc")
    assert lag["num_ack_pending"] == 50 and lag["num_pending"] == 950
    while len(collect.got) < 1000:
        await wait_for(lambda: consumer.in_hand >= min(20, 1000 - len(collect.got) + 1)
                       or len(collect.got) == 1000, what="refill")
        await consumer.ack_many(collect.got[-consumer.in_hand:])
    assert consumer.stats["max_outstanding"] <= 50
    assert collect.max_in_hand <= 50
    assert len({d.stream_seq for d in collect.got}) == 1000


async def test_flow_control_bounds_bytes_in_hand(bus: NATSBus) -> None:
    """Large messages: pulling stops near the byte budget, however much credit is left."""
    await bus.ensure_streams([TRADES])
    big = b'{"pad": "' + b"x" * 100_000 + b'"}'
    await bus.publish_many([(TRADES, big)] * 120)  # 12 MB of backlog
    collect = Collector()
    budget = 2 * 1024 * 1024
    consumer = await bus.pull_consumer(
        "MARKET", "bytes", [TRADES], collect, credit=10_000, max_bytes=budget
    )
    await wait_for(lambda: consumer.bytes_in_hand >= budget, what="byte budget filled")
    await asyncio.sleep(0.5)  # nothing released: the server must stop short
    held = consumer.bytes_in_hand
    assert budget <= held <= 2 * budget + len(big)
    assert len(collect.got) < 120
    assert consumer.stats["status_409"] >= 1  # pulls ended by max_bytes, not by the count
    while len(collect.got) < 120:  # releasing lets the rest through
        await consumer.ack_many(collect.got[-consumer.in_hand:])
        await wait_for(lambda: consumer.in_hand > 0 or len(collect.got) == 120,
                       what="more after release")
    assert len({d.stream_seq for d in collect.got}) == 120


async def test_ack_many_clears_ack_pending(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    await bus.publish_many(payloads(2000))
    collect = Collector()
    consumer = await bus.pull_consumer("MARKET", "acker", [TRADES], collect, credit=5000)
    await wait_for(lambda: len(collect.got) == 2000)
    assert (await bus.consumer_lag("MARKET", "acker"))["num_ack_pending"] == 2000
    assert await bus.ack_many(collect.got[:1000]) == 1000
    assert await bus.ack_many(collect.got[1000:], confirm="each") == 1000
    consumer.release(2000)
    lag = await bus.consumer_lag("MARKET", "acker")
    assert lag == {"num_pending": 0, "num_ack_pending": 0, "num_redelivered": 0,
                   "num_waiting": lag["num_waiting"], "delivered_seq": 2000,
                   "ack_floor_seq": 2000}


async def test_ack_timeout_counts_as_not_acked(bus: NATSBus) -> None:
    fake = Delivery(TRADES, b"", "$JS.ACK.NOPE.none.1.1.1.1700000000000000000.0", 1, 1)
    assert await bus.ack_many([fake], timeout=0.3) == 0
    assert await bus.ack_many([fake], timeout=0.3, confirm="each") == 0


async def test_unacked_messages_are_redelivered_after_ack_wait(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    await bus.publish_many(payloads(10))
    collect = Collector()
    consumer = await bus.pull_consumer(
        "MARKET", "redeliver", [TRADES], collect, credit=100, ack_wait=1.0
    )
    await wait_for(lambda: len(collect.got) == 10)
    consumer.release(10)  # dropped without ack, as a crashed writer would
    await wait_for(lambda: len(collect.got) == 20, timeout=5, what="redelivery")
    again = collect.got[10:]
    assert sorted(d.stream_seq for d in again) == list(range(1, 11))
    assert {d.num_delivered for d in again} == {2}
    await consumer.ack_many(again)
    assert (await bus.consumer_lag("MARKET", "redeliver"))["num_redelivered"] == 0


async def test_nak_with_a_delay_redelivers_after_it(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    await bus.publish_many(payloads(3))
    collect = Collector()
    await bus.pull_consumer("MARKET", "nak", [TRADES], collect, ack_wait=30.0)
    await wait_for(lambda: len(collect.got) == 3)
    held = list(collect.got)
    naked = time.monotonic()
    await bus.nak(held[:1], delay=1.0)
    await wait_for(lambda: len(collect.got) == 4, timeout=5, what="nak redelivery")
    assert time.monotonic() - naked >= 0.9  # not before the delay
    assert collect.got[3].stream_seq == held[0].stream_seq
    assert collect.got[3].num_delivered == 2


async def test_two_instances_share_one_durable(nats_url: str) -> None:
    buses = [NATSBus(), NATSBus()]
    for b in buses:
        await b.connect(nats_url)
    try:
        await buses[0].ensure_streams([TRADES])
        collectors = [Collector(), Collector()]
        consumers = [
            await b.pull_consumer("MARKET", "shared", [TRADES], c, credit=100, batch=25)
            for b, c in zip(buses, collectors, strict=True)
        ]
        n = 4000
        await buses[0].publish_many(payloads(n))

        async def drain(b: NATSBus, c: Collector, consumer: PullConsumer) -> None:
            while sum(len(x.got) for x in collectors) < n:
                if consumer.in_hand:
                    await consumer.ack_many(c.got[-consumer.in_hand:])
                await asyncio.sleep(0.002)

        await asyncio.wait_for(asyncio.gather(
            *(drain(b, c, k) for b, c, k in zip(buses, collectors, consumers, strict=True))
        ), 30)
        seqs = [d.stream_seq for c in collectors for d in c.got]
        assert sorted(seqs) == list(range(1, n + 1))  # no loss, no duplicates
        assert all(len(c.got) > 0 for c in collectors)
    finally:
        for b in buses:
            await b.close()


async def test_handler_exception_naks_and_keeps_credit(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    await bus.publish_many(payloads(1))
    seen: list[Delivery] = []
    errors: list[str] = []
    bus.on_state = lambda s, d: errors.append(d) if s == "error" else None

    async def flaky(d: Delivery) -> None:
        seen.append(d)
        if len(seen) == 1:
            raise ValueError("boom")

    consumer = await bus.pull_consumer("MARKET", "flaky", [TRADES], flaky, credit=10)
    await wait_for(lambda: len(seen) == 2, what="redelivery after handler failure")
    assert seen[1].num_delivered == 2 and consumer.in_hand == 1
    assert any("boom" in e for e in errors)


async def test_lag_numbers(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    await bus.publish_many(payloads(100))
    collect = Collector()
    consumer = await bus.pull_consumer("MARKET", "lag", [TRADES], collect, credit=10)
    await wait_for(lambda: len(collect.got) == 10)
    lag = await bus.consumer_lag("MARKET", "lag")
    assert (lag["num_pending"], lag["num_ack_pending"], lag["delivered_seq"],
            lag["ack_floor_seq"]) == (90, 10, 10, 0)
    await consumer.ack_many(collect.got)
    await wait_for(lambda: len(collect.got) == 20)
    lag = await bus.consumer_lag("MARKET", "lag")
    assert (lag["ack_floor_seq"], lag["delivered_seq"], lag["num_pending"]) == (10, 20, 80)
    with pytest.raises(IngestError):
        await bus.consumer_lag("MARKET", "no-such-consumer")


async def test_publish_many_without_stream_raises(bus: NATSBus) -> None:
    with pytest.raises(IngestError, match="rejected"):
        await bus.publish_many(payloads(5, "nowhere.at.all"), timeout=3)
    with pytest.raises(IngestError):
        await bus.publish("nowhere.at.all", b"{}")


async def test_core_publish_many_lands_in_stream(bus: NATSBus) -> None:
    await bus.ensure_streams([TRADES])
    assert await bus.publish_many(payloads(500), confirm=False) == 500
    # Core publishes are stored asynchronously after the flush: poll until all are in.
    deadline = time.monotonic() + 5
    while (await bus.js.stream_info("MARKET")).state.messages < 500:
        assert time.monotonic() < deadline, "core-published messages never all stored"
        await asyncio.sleep(0.02)
    assert await bus.publish(TRADES, b"{}") == 501


async def test_consumer_resumes_after_server_restart(tmp_path: Path) -> None:
    server = EmbeddedNATS(tmp_path / "js").start()
    states: list[str] = []
    b = NATSBus(lambda s, d: states.append(s), reconnect_wait=0.1)
    try:
        await b.connect(server.url)
        await b.ensure_streams([TRADES])
        await b.publish_many(payloads(300))
        collect = Collector()
        consumer = await b.pull_consumer(
            "MARKET", "lake-bronze", [TRADES], collect, credit=1000, heartbeat=0.5
        )
        await wait_for(lambda: len(collect.got) == 300)
        assert await consumer.ack_many(collect.got) == 300

        await asyncio.to_thread(server.restart)
        await wait_for(lambda: "reconnected" in states, what="reconnect")
        # JetStream may still be recovering its streams right after the client reconnects.
        for attempt in range(50):
            try:
                await b.publish_many(payloads(300), timeout=5)
                break
            except IngestError:
                assert attempt < 49, "JetStream never accepted publishes after the restart"
                await asyncio.sleep(0.1)
        await wait_for(lambda: len(collect.got) >= 600, timeout=15, what="post-restart messages")
        assert [d.stream_seq for d in collect.got[300:600]] == list(range(301, 601))
        last = (await b.js.stream_info("MARKET")).state.last_seq
        await wait_for(lambda: len(collect.got) >= last, what="all stored messages")
        assert await consumer.ack_many(collect.got[300:]) == len(collect.got) - 300
        lag = await b.consumer_lag("MARKET", "lake-bronze")
        assert lag["ack_floor_seq"] == last >= 600 and lag["num_pending"] == 0
        assert "disconnected" in states
    finally:
        await b.close()
        server.stop()


async def test_deleted_consumer_is_recreated_without_a_pull_storm(bus: NATSBus) -> None:
    """An operator deletes the durable: errors are reported, pulls back off, it comes back."""
    states: list[tuple[str, str]] = []
    bus.on_state = lambda state, detail: states.append((state, detail))
    await bus.ensure_streams([TRADES])
    collect = Collector()
    consumer = await bus.pull_consumer(
        "MARKET", "doomed", [TRADES], collect, credit=100, expires=2.0, heartbeat=0.5
    )
    await bus.publish(TRADES, b'{"i": 1}')
    await wait_for(lambda: len(collect.got) == 1, what="first message")
    await consumer.ack_many(collect.got)
    await bus.js.delete_consumer("MARKET", "doomed")
    await wait_for(lambda: any("recreated" in d for _, d in states), timeout=15,
                   what="recreation")
    await bus.publish(TRADES, b'{"i": 2}')
    await wait_for(lambda: any(d.data == b'{"i": 2}' for d in collect.got), what="after")
    assert any(s == "error" for s, _ in states)  # the operator is told
    assert consumer.stats["pulls"] < 200  # no busy loop while the consumer was missing
