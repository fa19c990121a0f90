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
from lakeconsole.service import DEMO_RATE, Service

log = logging.getLogger("lakeconsole")
RULE = "=" * 64


def banner(settings: Settings, nats_url: str, embedded: bool = False, demo: bool = False) -> str:
    """The LAKE SERVICE banner: where each writer writes."""
    root = settings.storage.url.rstrip("/")
    b, g = settings.bronze, settings.gold
    kind = "  (embedded, demo feed)" if demo else "  (embedded)" if embedded else ""
    lines = [
        RULE,
        f"LAKE SERVICE  (lakeconsole {__version__})",
        RULE,
        f"  NATS:    {nats_url}{kind}",
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


def run_headless(settings: Settings, demo: bool = False) -> int:
    """Run until SIGINT/SIGTERM/SIGHUP, then flush, ack and exit 0 (`demo`: the demo feed)."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    return asyncio.run(_main(settings, demo))


def _on_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT, SIGTERM and SIGHUP (the terminal closed) all mean: flush, ack, stop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, _stop_on, sig, stop)


def _stop_on(sig: signal.Signals, stop: asyncio.Event) -> None:
    """Log the first stop signal; set `stop`."""
    if not stop.is_set():
        log.info("%s received", sig.name)
    stop.set()


async def _main(settings: Settings, demo: bool = False) -> int:
    service = Service(settings, demo=demo)
    service.subscribe(log_event)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    _on_stop_signals(stop)
    embedded = demo or settings.nats.embedded
    print(banner(settings, service.nats_url, embedded, demo), file=sys.stderr, flush=True)
    starting = loop.create_task(service.start())
    stopper = loop.create_task(stop.wait())
    await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if starting.done() and starting.exception() is None:
        log.info("Bronze writer started")
        log.info("Gold writer started")
        if demo:
            log.info("demo feed publishing ~%g events/s", DEMO_RATE)
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
