"""The service's automatic compaction, and its view of the compaction queue.

With `[silver] auto = true` a loop plans every `plan_interval` seconds with
`lakeconsole.silver.auto.due_jobs` and either compacts the due jobs itself, one at a time
in a thread (the default: nothing else to run), or with `auto_submit = true` queues them on
LAKE_JOBS for `lakeconsole worker`s. Either way the partition's lease keeps two runs of one
partition apart, across processes too. A failing plan or job is an event, never the end
of the loop; a job that failed is retried after `RETRY_AFTER_S` unless its Bronze changes
sooner.

Whether or not auto is on, the service listens on `lake.events.compaction` while
connected, so the console shows every worker's results, and polls LAKE_JOBS's consumer
for the queued/running counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.errors import IngestError, describe
from lakeconsole.ingest import jobs
from lakeconsole.ingest.bus import NATSBus
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import auto
from lakeconsole.silver.result import CompactionResult

log = logging.getLogger(__name__)
RETRY_AFTER_S = 300.0  # a failed job with unchanged Bronze is tried again after this
QUEUE_POLL_S = 2.0
Emit = Callable[[ev.Event], None]


def plan_interval(delay_s: float) -> float:
    """Seconds between plans: a quarter of the delay, within [1, 60]."""
    return min(60.0, max(1.0, delay_s / 4))


@dataclass
class _Tried:
    fingerprint: str
    retry_at: float  # monotonic seconds; inf: not again for this fingerprint


class AutoCompaction:
    """Plans and runs (or queues) automatic compactions; counts the compaction queue."""

    def __init__(self, bus: NATSBus, storage: Storage, settings: Settings, emit: Emit,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.bus, self.storage, self.settings = bus, storage, settings
        self.emit_event = emit
        self.clock_ns = clock_ns
        self.cancel = threading.Event()
        self.local_queued = self.local_running = 0
        self.remote: tuple[int, int] = (0, 0)
        self.remote_seen = False
        self.done = self.failed = 0
        self.last_failure = ""
        self._tried: dict[str, _Tried] = {}
        self._reported: set[str] = set()  # problems of the last plan, already reported
        self._sub: Subscription | None = None

    # -- the auto loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Plan and compact (or queue) until cancelled; failures are reported, never fatal."""
        interval = plan_interval(self.settings.silver.auto_delay_s)
        try:
            while True:
                try:
                    await self.tick()
                except Exception as exc:  # storage down, NATS down…: the next plan retries
                    self._problems([describe(exc)])
                await asyncio.sleep(interval)
        finally:
            self.cancel.set()  # a running compaction stops before its switch

    async def tick(self) -> list[auto.DueJob]:
        """One plan: the due jobs that were run or queued."""
        delay = self.settings.silver.auto_delay_s
        problems: list[str] = []
        due = await asyncio.to_thread(auto.due_jobs, self.storage, self.clock_ns(), delay,
                                      None, problems)
        self._problems(problems)
        due = [d for d in due if self._fresh(d)]
        if not due:
            return []
        if self.settings.silver.auto_submit:
            await self._submit(due)
        else:
            await self._run_here(due)
        return due

    def _problems(self, problems: list[str]) -> None:
        """Report what the plan could not judge; the same problem once, not every plan."""
        for problem in problems:
            if problem not in self._reported:
                self.emit_event(ev.ErrorRaised("auto compaction", problem))
        self._reported = set(problems)

    def _fresh(self, due: auto.DueJob) -> bool:
        tried = self._tried.get(due.job.key)
        if tried is None or tried.fingerprint != due.fingerprint:
            return True
        return time.monotonic() >= tried.retry_at

    async def _submit(self, due: list[auto.DueJob]) -> None:
        silver = self.settings.silver
        if not self.bus.is_connected:
            raise IngestError("cannot queue compaction jobs: not connected to NATS")
        await jobs.ensure_queue(self.bus.js, silver.job_ack_wait_s, silver.job_max_deliver)
        specs = [jobs.JobSpec(d.job.dataset, d.job.value, d.job.date, request="auto")
                 for d in due]
        await jobs.submit(self.bus.js, specs)
        for d in due:  # the workers' reports say how it went; same Bronze: no resubmit
            self._tried[d.job.key] = _Tried(d.fingerprint, math.inf)
        log.info("queued %d automatic compactions on %s", len(due), jobs.STREAM)

    async def _run_here(self, due: list[auto.DueJob]) -> None:
        from lakeconsole.silver.compactor import SilverCompactor

        compactor = SilverCompactor(self.storage, self.settings)
        self.local_queued = len(due)
        for d in due:
            self.local_queued -= 1
            self.local_running = 1
            self._emit_queue()
            log.info("automatic compaction of %s (%s)", d.job.key, d.reason)
            try:
                result = await asyncio.to_thread(compactor.run_job, d.job, False, self.cancel)
            finally:
                self.local_running = 0
            self._record(d, result)
            log.info("automatic compaction of %s: %s%s", result.key, result.status,
                     f" ({result.error})" if result.error else "")
            self.emit_event(ev.CompactionFinished(result.key, result, source="auto"))
            self._emit_queue()

    def _record(self, due: auto.DueJob, result: CompactionResult) -> None:
        if result.status in ("busy", "cancelled"):
            return  # not tried: the next plan tries again
        failed = result.status == "failed"
        retry = time.monotonic() + RETRY_AFTER_S if failed else math.inf
        self._tried[due.job.key] = _Tried(due.fingerprint, retry)
        self._count(result)

    def _count(self, result: CompactionResult) -> None:
        if result.status == "failed":
            self.failed += 1
            self.last_failure = f"{result.key}: {result.error or 'failed'}"
        else:
            self.done += 1

    def _emit_queue(self) -> None:
        queued, running = self.remote
        self.emit_event(ev.CompactionQueue(
            self.local_queued + queued, self.local_running + running, self.done, self.failed,
            self.last_failure, "queue" if self.remote_seen else "local"))

    # -- results from workers, and the queue's depth ---------------------------------

    async def watch(self) -> None:
        """Listen to workers' reports and poll LAKE_JOBS while connected, until cancelled."""
        try:
            while True:
                if self.bus.is_connected:
                    await self._poll()
                await asyncio.sleep(QUEUE_POLL_S)
        finally:
            if self._sub is not None:
                with contextlib.suppress(Exception):
                    await self._sub.unsubscribe()

    async def _poll(self) -> None:
        try:
            if self._sub is None:
                self._sub = await self.bus.nc.subscribe(jobs.RESULTS, cb=self._on_report)
            depth = await jobs.queue_depth(self.bus.js)
        except Exception as exc:  # a NATS hiccup: the next poll tries again
            log.debug("compaction queue poll failed: %s", describe(exc))
            return
        if depth is None:
            return
        if depth != self.remote or not self.remote_seen:
            self.remote, self.remote_seen = depth, True
            self._emit_queue()

    async def _on_report(self, msg: Msg) -> None:
        try:
            report = jobs.JobReport.from_bytes(msg.data)
        except IngestError as exc:
            log.warning("%s", exc)
            return
        if not report.final:
            log.info("compaction of %s failed on %s (try %d of %d): %s", report.result.key,
                     report.worker, report.attempt, report.max_tries, report.result.error)
            return
        self._count(report.result)
        log.info("compaction of %s on %s: %s%s", report.result.key, report.worker,
                 report.result.status, f" ({report.result.error})" if report.result.error else "")
        self.emit_event(ev.CompactionFinished(report.result.key, report.result,
                                              source=f"worker {report.worker}"))
        self._emit_queue()
