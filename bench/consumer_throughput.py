"""Throughput of the NATS transport: bulk publish, then pull + msgspec decode + durable acks.

Run: ``uv run python bench/consumer_throughput.py [--messages 500000] [--credit 20000]``.
Starts its own embedded nats-server on loopback in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import msgspec

from lakeconsole.demo.feed import DemoFeed
from lakeconsole.ingest.bus import Delivery, NATSBus
from lakeconsole.ingest.embedded import EmbeddedNATS


class Trade(msgspec.Struct):
    """The fields a Bronze writer would decode from a stock trade."""

    ts_event_ns: int
    symbol: str
    price: float
    size: int
    exchange: int
    seq: int
    source: str = "nats"


async def preload(bus: NATSBus, n: int, confirm: bool) -> float:
    """Publish ``n`` small trades; return seconds taken."""
    payloads = list(DemoFeed(7).trades(n))
    start, cpu = time.perf_counter(), time.process_time()
    sent = await bus.publish_many(payloads, confirm=confirm)
    assert sent == n, sent
    cpu = time.process_time() - cpu
    print(f"  client CPU {cpu:.2f} s -> {n / cpu:,.0f} msg per client-CPU-second")
    return time.perf_counter() - start


async def consume(
    bus: NATSBus, durable: str, n: int, credit: int, flush_every: int, confirm: str
) -> tuple[float, int]:
    """Pull ``n`` messages, decode each, ack in groups of ``flush_every``; return (s, acked)."""
    decoder = msgspec.json.Decoder(Trade)
    buffer: list[Delivery] = []
    ready: asyncio.Queue[list[Delivery]] = asyncio.Queue()

    def handle(d: Delivery) -> None:
        decoder.decode(d.data)
        buffer.append(d)
        if len(buffer) >= flush_every:
            ready.put_nowait(buffer[:])
            buffer.clear()

    start = time.perf_counter()
    cpu = time.process_time()
    consumer = await bus.pull_consumer(
        "MARKET", durable, ["market.stocks.trades"], handle,
        credit=credit, max_ack_pending=max(credit, 20_000),
    )
    acked = 0
    while acked < n:
        try:
            batch = await asyncio.wait_for(ready.get(), 2.0)
        except TimeoutError:
            batch, buffer[:] = buffer[:], []  # tail smaller than flush_every
        got = await bus.ack_many(batch, confirm=confirm)
        consumer.release(len(batch))
        acked += got
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    await consumer.stop()
    print(f"  client CPU {cpu:.2f} s -> {acked / cpu:,.0f} msg per client-CPU-second")
    return elapsed, acked


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNATS(Path(tmp)) as server:
        bus = NATSBus()
        await bus.connect(server.url)
        await bus.ensure_streams(["market.stocks.trades"])
        n = args.messages
        secs = await preload(bus, n, confirm=True)
        print(f"publish_many (JetStream acks, windowed): {n / secs:,.0f} msg/s ({secs:.2f} s)")
        if args.core_publish:
            secs = await preload(bus, n, confirm=False)
            print(f"publish_many (core + flush):             {n / secs:,.0f} msg/s")
        for confirm in ("last", "each"):
            secs, acked = await consume(
                bus, f"bench-{confirm}", n, args.credit, args.flush_every, confirm
            )
            print(
                f"pull+decode+ack_many(confirm={confirm!r}): {acked / secs:,.0f} msg/s "
                f"({acked} acked in {secs:.2f} s, credit {args.credit}, "
                f"ack groups of {args.flush_every})"
            )
            lag = await bus.consumer_lag("MARKET", f"bench-{confirm}")
            print(f"  lag after: {lag}")
        await bus.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--credit", type=int, default=20_000)
    parser.add_argument("--flush-every", type=int, default=5_000)
    parser.add_argument("--core-publish", action="store_true", help="also time core publishes")
    asyncio.run(main(parser.parse_args()))
