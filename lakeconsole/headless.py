"""`lakeconsole --headless`: the writers as a plain service with a banner and clean signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from lakeconsole import __version__
from lakeconsole import events as ev
from lakeconsole.children import child_metrics, label_child_logs
from lakeconsole.config import HEADLESS_METRICS_ADDR, Settings
from lakeconsole.errors import describe
from lakeconsole.ingest.completeness import LOSS_WHERE
from lakeconsole.ops.lag import LagLog
from lakeconsole.ops.logs import setup_logging
from lakeconsole.ops.serve import serve_configured
from lakeconsole.service import DEMO_RATE, Service

log = logging.getLogger("lakeconsole")
RULE = "=" * 64


def banner(settings: Settings, nats_url: str, embedded: bool = False, demo: bool = False,
           extra: Sequence[str] = ()) -> str:
    """The LAKE SERVICE banner: where each writer writes (`extra`: more lines, e.g. processes)."""
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
        *extra,
        RULE,
    ]
    return "\n".join(lines)


def log_event(event: ev.Event) -> None:
    """Headless rendering of the service's events (each is logged here, once)."""
    if isinstance(event, ev.ConnectionState):
        normal = event.state in ("connected", "reconnected", "closed")  # closed: by stop()
        level = logging.INFO if normal else logging.WARNING
        log.log(level, "NATS %s: %s", event.state, event.detail,
                extra={"nats_state": event.state})
    elif isinstance(event, ev.UpstreamLoss):
        log.error("upstream loss: %s sequences %d..%d (%d messages) never reached the lake: %s",
                  event.stream, event.first_seq, event.last_seq, event.count, event.cause,
                  extra={"stream": event.stream, "first_seq": event.first_seq,
                         "last_seq": event.last_seq, "count": event.count})
    elif isinstance(event, ev.ErrorRaised) and event.where != LOSS_WHERE:  # logged just above
        log.error("%s: %s", event.where, event.message)
    elif isinstance(event, ev.Received) and event.unknown_fields:
        log.info("ignored %d unknown fields in incoming events", event.unknown_fields)


def run_headless(settings: Settings, demo: bool = False, log_format: str = "text",
                 log_level: str = "info", child: int | None = None) -> int:
    """Run until SIGINT/SIGTERM/SIGHUP, then flush, ack and exit 0 (`demo`: the demo feed).

    `child`: ingest process I of `--processes N` (lakeconsole.supervisor): no banner, its
    log lines labelled, metrics on the metrics port + I.
    """
    setup_logging(log_format, log_level)
    if child is not None:
        label_child_logs(child, log_format)
    return asyncio.run(_main(settings, demo, log_format, child))


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


async def _main(settings: Settings, demo: bool = False, log_format: str = "text",
                child: int | None = None) -> int:
    stop = asyncio.Event()
    _on_stop_signals(stop)  # before the banner: a stop right after it must still be clean
    service = Service(settings, demo=demo)
    service.subscribe(log_event)
    service.subscribe(LagLog(log).apply)
    embedded = demo or settings.nats.embedded
    text = banner(settings, service.nats_url, embedded, demo)
    default = HEADLESS_METRICS_ADDR
    if child is not None:  # the parent printed the one banner
        settings, default = child_metrics(settings, default, child)
        log.info("ingest process %d (pid %d) on %s", child, os.getpid(), service.nats_url)
    elif log_format == "json":  # every line of the log must parse: the banner is one record
        log.info("%s", text, extra={"banner": True})
    else:
        print(text, file=sys.stderr, flush=True)
    ops = serve_configured(service, settings, default)
    try:
        return await _run(service, settings, demo, stop)
    finally:
        if ops is not None:
            ops.stop()


async def _run(service: Service, settings: Settings, demo: bool, stop: asyncio.Event) -> int:
    loop = asyncio.get_running_loop()
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
