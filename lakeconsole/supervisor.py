"""`lakeconsole --headless --processes N`: N ingest processes sharing the durable consumers.

The parent ingests nothing. It owns what must exist once: the embedded nats-server and the
demo feed (`--demo` / `nats.embedded`), the banner and the stop signals. Each child is a
plain `python -m lakeconsole --headless --child I` bound to the same durable pull consumers
(JetStream hands each message to one of them) with its own writer token, so file names never
collide. A child that exits on its own is started again with backoff; SIGINT/SIGTERM/SIGHUP
reach every child as SIGTERM (each flushes and acks), and the parent exits with the worst
child's code. Metrics are per process: child I serves on the metrics port + I.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lakeconsole.config import HEADLESS_METRICS_ADDR, Settings, metrics_address
from lakeconsole.errors import describe
from lakeconsole.headless import _on_stop_signals, banner
from lakeconsole.ingest.embedded import EmbeddedNATS, die_with_parent
from lakeconsole.ops.backoff import Backoff

log = logging.getLogger("lakeconsole.supervisor")
RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
HEALTHY_AFTER_S = 30.0  # a child that ran this long restarts from the first delay again
POLL_S = 0.2
STOP_MARGIN_S = 30.0  # beyond stop_grace_s before a child that will not stop is killed
USAGE_EXIT = 2  # a child's configuration error: starting it again would fail the same way


# -- the parent side ----------------------------------------------------------------------


@dataclass
class Child:
    """One ingest process slot: its command line, the running process and its restarts."""

    index: int
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(RESTART_FIRST_S, RESTART_MAX_S))

    def spawn(self) -> None:
        """Start the process (from the main thread: Linux kills it when this process dies)."""
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL,
            start_new_session=True,  # terminal signals reach the parent only, which forwards
            preexec_fn=die_with_parent(),
        )
        self.started_at, self.restart_at = time.monotonic(), None

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


def child_argv(args: argparse.Namespace, index: int, nats_url: str) -> list[str]:
    """`python -m lakeconsole --headless --child I` with the parent's flags and NATS URL."""
    argv = [sys.executable, "-m", "lakeconsole"]
    for flag, value in (("--config", args.config), ("--data-root", args.data_root),
                        ("--metrics-addr", args.metrics_addr)):
        if value is not None:
            argv += [flag, value]
    if args.debug:
        argv.append("--debug")
    # The parent's resolved URL: the embedded server's, which a child must not start itself.
    argv += ["--nats-url", nats_url, "--log-format", args.log_format,
             "--log-level", args.log_level, "--headless", "--child", str(index)]
    return argv


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait for it, again and again.

    Python 3.11's wait_for can swallow a cancel that races its result (gh-86296), and the
    demo feed waits for publish acks that way (as Service._stop_tasks does).
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def _how(code: int) -> str:
    """`signal SIGKILL` or `exit code 1`."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:
        return f"signal {-code}"


def exit_code(returncode: int | None) -> int:
    """A child's exit status as ours: killed by a signal (negative) or unknown is 1."""
    return returncode if returncode is not None and returncode >= 0 else 1


def embedded_store(settings: Settings) -> Path:
    """Where the embedded server keeps its data (as `Service` would put it)."""
    from lakeconsole.lake.storage import Storage

    storage = Storage.from_settings(settings.storage)
    return Path(storage.root).parent / "nats" if storage.is_local else Path("data/nats")


def run_supervised(args: argparse.Namespace, settings: Settings) -> int:
    """Run `args.processes` ingest children until a stop signal; the worst exit code."""
    from lakeconsole.ops.logs import setup_logging

    setup_logging(args.log_format, args.log_level)
    return asyncio.run(Supervisor(args, settings).run())


class Supervisor:
    """The parent of `--processes N`: server and feed, children, restarts, clean stop."""

    def __init__(self, args: argparse.Namespace, settings: Settings) -> None:
        self.args, self.settings = args, settings
        self.demo = bool(args.demo)
        self.embedded = self.demo or settings.nats.embedded
        self.server = EmbeddedNATS(embedded_store(settings)) if self.embedded else None
        self.url = self.server.url if self.server is not None else settings.nats.url
        self.children = [Child(i, child_argv(args, i, self.url)) for i in range(args.processes)]
        self.stop = asyncio.Event()
        self.fatal = 0

    async def run(self) -> int:
        """Start everything, supervise until stopped, stop everything; the exit code."""
        _on_stop_signals(self.stop)
        feed: asyncio.Task[None] | None = None
        try:
            if self.server is not None:
                await asyncio.to_thread(self.server.start)
            if self.demo:
                feed = asyncio.get_running_loop().create_task(self._demo_feed())
            for child in self.children:
                child.spawn()
            self._banner()
            await self._watch()
            if feed is not None:  # first: the children then flush all that was published
                await _cancel(feed)
            log.info("stopping: %d ingest processes flush and ack", len(self.children))
            code = max(self.fatal, await self._stop_children())
            log.info("all ingest processes stopped (exit code %d)", code)
            return code
        finally:
            if feed is not None:
                await _cancel(feed)
            for child in self.children:  # only after a failure: a stop reaped them all
                if child.proc is not None and child.pid is not None:
                    child.proc.terminate()
            if self.server is not None:
                await asyncio.to_thread(self.server.stop)

    def _banner(self) -> None:
        pids = ", ".join(str(c.pid) for c in self.children)
        extra = [f"  Ingest:  {len(self.children)} processes (pids {pids}) sharing the "
                 "durable consumers"]
        extra.append(f"  Metrics: {self._metrics_line()}")
        text = banner(self.settings, self.url, self.embedded, self.demo, extra=extra)
        if self.args.log_format == "json":
            log.info("%s", text, extra={"banner": True})
        else:
            print(text, file=sys.stderr, flush=True)

    def _metrics_line(self) -> str:
        address = metrics_address(self.settings.metrics.addr, HEADLESS_METRICS_ADDR)
        if address is None:
            return "off"
        host, port = address
        if port == 0:
            return f"per process, each on a free port of {host}"
        last = port + len(self.children) - 1
        return f"per process, http://{host}:{port}..{last}/metrics (process I on port + I)"

    async def _watch(self) -> None:
        """Until a stop signal: restart each child that exits on its own."""
        while not self.stop.is_set():
            now = time.monotonic()
            for child in self.children:
                self._check(child, now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), POLL_S)

    def _check(self, child: Child, now: float) -> None:
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.spawn()
                child.restarts += 1
                log.info("ingest process %d restarted (pid %s, restart %d)", child.index,
                         child.pid, child.restarts)
            return
        if child.proc is None or child.proc.poll() is None:
            return
        code = child.proc.returncode
        how = _how(code)
        if code == USAGE_EXIT:
            log.error("ingest process %d (pid %d) failed with %s: a configuration error; "
                      "stopping all", child.index, child.proc.pid, how)
            self.fatal = USAGE_EXIT
            self.stop.set()
            return
        if now - child.started_at >= HEALTHY_AFTER_S:
            child.backoff.reset()
        pause = child.backoff.next()
        log.warning("ingest process %d (pid %d) ended with %s; restarting in %.1f s",
                    child.index, child.proc.pid, how, pause)
        child.restart_at = now + pause

    async def _stop_children(self) -> int:
        """SIGTERM every running child, wait for its flush; the worst exit code."""
        running = [c for c in self.children if c.pid is not None]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                assert child.proc is not None
                child.proc.send_signal(signal.SIGTERM)
        limit = self.settings.service.stop_grace_s + STOP_MARGIN_S
        codes = await asyncio.gather(*(self._reap(c, limit) for c in running))
        return max(codes, default=0)

    async def _reap(self, child: Child, limit: float) -> int:
        assert child.proc is not None
        try:
            code = await asyncio.to_thread(child.proc.wait, limit)
        except subprocess.TimeoutExpired:
            log.error("ingest process %d (pid %d) did not stop within %g s; killed (its "
                      "unacked messages are redelivered)", child.index, child.proc.pid, limit)
            child.proc.kill()
            await asyncio.to_thread(child.proc.wait)
            return 1
        if code != 0:
            log.error("ingest process %d (pid %d) stopped with exit code %d", child.index,
                      child.proc.pid, code)
        return exit_code(code)

    async def _demo_feed(self) -> None:
        """The demo feed, once for all children (they only consume)."""
        from lakeconsole.contract.schemas import DATASETS
        from lakeconsole.demo.feed import run_feed
        from lakeconsole.ingest.bus import NATSBus, StreamLimits
        from lakeconsole.service import DEMO_RATE

        bus = NATSBus(on_state=lambda state, detail: None)
        nats = self.settings.nats
        try:
            await bus.connect(self.url)
            # The streams before the first publish: the children may not have made them yet.
            await bus.ensure_streams([d.subject for d in DATASETS],
                                     StreamLimits(nats.stream_max_age_s, nats.stream_max_bytes))
            log.info("demo feed publishing ~%g events/s", DEMO_RATE)
            await run_feed(bus, DEMO_RATE)
        except Exception as exc:  # nats-py raises its own types too
            log.error("demo feed: %s", describe(exc))
        finally:
            await bus.close()
