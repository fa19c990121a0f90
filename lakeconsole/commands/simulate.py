"""`lakeconsole simulate`: publish the synthetic market feed to the configured NATS."""

from __future__ import annotations

import argparse
import asyncio
import sys

from lakeconsole.config import Settings
from lakeconsole.contract.schemas import subjects
from lakeconsole.demo.feed import run_feed
from lakeconsole.ingest.bus import NATSBus, StreamLimits


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Publish until --duration elapses (or Ctrl-C); print a rate line as it goes."""
    try:
        sent = asyncio.run(_simulate(args, settings))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    print(f"published {sent} events", file=sys.stderr)
    return 0


async def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    def state(name: str, detail: str) -> None:
        print(f"nats {name} {detail}", file=sys.stderr)

    bus = NATSBus(on_state=state)
    await bus.connect(settings.nats.url)
    limits = StreamLimits(settings.nats.stream_max_age_s, settings.nats.stream_max_bytes)
    await bus.ensure_streams(subjects(), limits)
    tty = sys.stderr.isatty()

    def progress(sent: int, elapsed: float) -> None:
        if tty:
            rate = sent / elapsed if elapsed else 0.0
            print(f"\r{sent:>10,} events  {rate:>9,.0f}/s  {elapsed:6.1f}s", end="",
                  file=sys.stderr, flush=True)

    try:
        return await run_feed(bus, args.rate, args.duration, args.batch, progress, seed=args.seed)
    finally:
        if tty:
            print(file=sys.stderr)
        await bus.close()
