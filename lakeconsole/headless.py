"""`lakeconsole --headless`: the writers as a plain service with a banner and clean signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from lakeconsole import __version__
from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.errors import describe
from lakeconsole.service import Service

log = logging.getLogger("lakeconsole")
RULE = "=" * 64


def banner(settings: Settings, nats_url: str) -> str:
    """The LAKE SERVICE banner: where each writer writes."""
    root = settings.storage.url.rstrip("/")
    b, g = settings.bronze, settings.gold
    lines = [
        RULE,
        f"LAKE SERVICE  (lakeconsole {__version__})",
        RULE,
        f"  NATS:    {nats_url}",
        f"  Storage: {'S3' if settings.storage.is_s3 else 'local'}  {root}",
        f"  Bronze:  {root}/bronze  ({b.max_events} events / {b.max_age_s:g} s)",
        f"  Gold:    {root}/gold  ({g.max_records} records / {g.max_age_s:g} s)",
        f"  Config:  {settings.source}",
        RULE,
    ]
    return "\n".join(lines)


def log_event(event: ev.Event) -> None:
    """Headless rendering of the service's events."""
    if isinstance(event, ev.ConnectionState):
        level = logging.INFO if event.state in ("connected", "reconnected") else logging.WARNING
        log.log(level, "NATS %s %s", event.state, event.detail)
    elif isinstance(event, ev.ErrorRaised):
        log.error("%s: %s", event.where, event.message)
    elif isinstance(event, ev.Received) and event.unknown_fields:
        log.info("ignored %d unknown fields in incoming events", event.unknown_fields)


def run_headless(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM, then flush, ack and exit 0."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    return asyncio.run(_main(settings))


async def _main(settings: Settings) -> int:
    service = Service(settings)
    service.subscribe(log_event)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    nats_url = "embedded" if settings.nats.embedded else service.nats_url
    print(banner(settings, nats_url), file=sys.stderr,
          flush=True)
    starting = loop.create_task(service.start())
    stopper = loop.create_task(stop.wait())
    await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done() and starting.exception() is None:
        log.info("Bronze writer started")
        log.info("Gold writer started")
        await stopper
    log.info("stopping: flushing buffers and acking")
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
    elif starting.exception() is not None:
        log.error("start failed: %s", describe(starting.exception() or Exception()))
        await service.stop()
        return 1
    unwritten = await service.stop()
    if unwritten:
        log.error("stopped with %d messages not written (storage still failing after %g s); "
                  "they stay in NATS and will be redelivered", unwritten,
                  settings.service.stop_grace_s)
        return 1
    log.info("stopped cleanly")
    return 0
