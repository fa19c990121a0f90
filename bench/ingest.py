"""Ingest benchmark: a bare pull+decode+ack consumer vs the service draining the same backlog.

    uv run python bench/ingest.py [--messages 500000] [--batch 1]

Preloads a JetStream stream on an embedded nats-server, then runs each phase in a fresh
child process (so peak RSS is per phase) against its own durable consumer:
  (a) bare:    pull, decode (msgspec), ack in groups of 1000 — the ceiling for our consumer
  (b) service: the headless Service with default settings writing Bronze Parquet
and prints events/s for both, the ratio b/a and each phase's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lakeconsole.config import load_settings  # noqa: E402
from lakeconsole.contract.schemas import by_subject  # noqa: E402
from lakeconsole.contract.wire import BronzeDecoder  # noqa: E402
from lakeconsole.demo.feed import DemoFeed  # noqa: E402
from lakeconsole.ingest.bus import NATSBus  # noqa: E402
from lakeconsole.ingest.embedded import EmbeddedNATS  # noqa: E402
from lakeconsole.service import Service  # noqa: E402

SUBJECT = "market.stocks.trades"


async def preload(url: str, messages: int, batch: int) -> int:
    """Publish `messages` trade messages (each `batch` events) and return total events."""
    bus = NATSBus()
    await bus.connect(url)
    await bus.ensure_streams([SUBJECT])
    feed = DemoFeed(seed=7)
    singles = (p for _, p in feed.trades(messages * batch))
    payloads = singles
    if batch > 1:
        payloads = (b"[" + b",".join(itertools.islice(singles, batch)) + b"]"
                    for _ in range(messages))
    await bus.publish_many(((SUBJECT, p) for p in payloads), confirm=True)
    await bus.close()
    return messages * batch


async def drained(url: str, durable: str) -> bool:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info("MARKET", durable)
        return info.num_pending == 0 and info.num_ack_pending == 0
    finally:
        await nc.close()


async def phase_bare(url: str, events: int) -> float:
    """Pull, decode and ack everything; return wall seconds."""
    bus = NATSBus()
    await bus.connect(url)
    decoder = BronzeDecoder(by_subject(SUBJECT))
    pending: list = []
    done = asyncio.Event()
    seen = 0
    acks: set[asyncio.Task] = set()

    def on_msg(msg) -> None:
        nonlocal seen
        seen += len(decoder.decode(msg.data).events)
        pending.append(msg)
        if len(pending) >= 1000 or seen >= events:
            batch = pending[:]
            pending.clear()
            task = asyncio.get_running_loop().create_task(consumer.ack_many(batch))
            acks.add(task)
            task.add_done_callback(acks.discard)
        if seen >= events:
            done.set()

    start = time.perf_counter()
    consumer = await bus.pull_consumer("MARKET", "bench-bare", [SUBJECT], on_msg)
    await done.wait()
    await asyncio.gather(*acks)
    elapsed = time.perf_counter() - start
    await consumer.stop()
    await bus.close()
    return elapsed


async def phase_service(url: str, root: str) -> float:
    """Run the Service with default settings until its consumer is drained; return seconds."""
    settings = load_settings(env={}, overrides={"storage.root": root, "nats.url": url})
    service = Service(settings)
    start = time.perf_counter()
    await service.start()
    while not await drained(url, settings.nats.bronze_consumer):
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    await service.stop()
    return elapsed


def child(args: argparse.Namespace) -> None:
    cpu_start = time.process_time()
    if args.phase == "bare":
        seconds = asyncio.run(phase_bare(args.url, args.events))
    else:
        seconds = asyncio.run(phase_service(args.url, args.root))
    cpu = time.process_time() - cpu_start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024, "cpu": cpu}))


def run_phase(phase: str, url: str, events: int, root: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--url", url, "--events", str(events),
         "--root", root],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=1, help="events per message")
    parser.add_argument("--phase", choices=["bare", "service"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    with tempfile.TemporaryDirectory() as tmp, EmbeddedNATS(Path(tmp) / "nats") as server:
        t0 = time.perf_counter()
        events = asyncio.run(preload(server.url, args.messages, args.batch))
        print(f"preloaded {args.messages:,} messages ({events:,} events, batch={args.batch}) "
              f"in {time.perf_counter() - t0:.1f} s")
        bare = run_phase("bare", server.url, events, "")
        svc = run_phase("service", server.url, events, str(Path(tmp) / "lake"))
    a, b = events / bare["seconds"], events / svc["seconds"]
    for label, r, rate in (("(a) bare consumer", bare, a), ("(b) headless service", svc, b)):
        print(f"{label:<21}: {rate:>9,.0f} events/s wall ({r['seconds']:.2f} s), "
              f"{events / r['cpu']:>9,.0f} events per CPU-second of this process, "
              f"peak RSS {r['rss_mb']:.0f} MB")
    print(f"ratio b/a (wall): {b / a:.2f}   ratio b/a (CPU): {bare['cpu'] / svc['cpu']:.2f}")


if __name__ == "__main__":
    main()
