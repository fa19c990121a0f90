"""Compaction jobs on NATS: the LAKE_JOBS work queue, its workers' loop and their results.

A job is one (dataset, partition value, date) as JSON on `lake.jobs.compact`, kept in the
work-queue stream `LAKE_JOBS` until a worker acks it. Every worker binds the one durable
pull consumer `lake-compactors` and fetches one job at a time, so any number of workers
on any machines share the queue. While a job runs the worker sends `+WPI` (in progress)
every third of the ack wait; a worker that dies stops sending them and the server
redelivers the job to another after the ack wait. The partition's S3 lease (not NATS)
keeps two runs of one partition apart: a redelivered job finds a dead local holder's
lease broken at once, a remote one's after `silver.lease_ttl_s`, and until then reports
`busy` and is retried.

Every try publishes a `JobReport` on `lake.events.compaction` (core NATS: whoever
listens, e.g. the console, sees results from every worker). A try that ends ok/empty is
final and acked; a failed or busy try is retried (NAK with a growing delay) until the
job's `silver.job_max_deliver`-th try, which is final: the job is terminated (`+TERM`)
and reported, never retried forever. A payload that is not a job is terminated at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATSClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from lakeconsole.errors import IngestError, describe
from lakeconsole.silver.result import CompactionResult, QuarantinedFile

if TYPE_CHECKING:  # the compactor (DuckDB) is loaded by whoever runs jobs, not the service
    from lakeconsole.silver.compactor import CompactionJob

log = logging.getLogger(__name__)

STREAM = "LAKE_JOBS"
SUBJECT = "lake.jobs.compact"
RESULTS = "lake.events.compaction"
DURABLE = "lake-compactors"
DUPLICATE_WINDOW_S = 120.0  # a job id published twice within this is stored once
# Test-only: seconds a worker waits (sending +WPI) before running each job, so a test can
# kill it mid-job. Unset in production; documented in docs/design.md §5.
DELAY_ENV = "LAKECONSOLE_JOB_DELAY_S"
RETRY_DELAY_MAX_S = 30.0
CONNECT_TIMEOUT_S = 5.0

RunJob = Callable[["CompactionJob", bool, threading.Event], CompactionResult]


@dataclass(frozen=True)
class JobSpec:
    """One queued compaction: what to compact, and the ids that name the request."""

    dataset: str
    partition: str
    date: str
    force: bool = False
    request: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def job(self) -> CompactionJob:
        """The compactor's job."""
        from lakeconsole.silver.compactor import CompactionJob

        return CompactionJob(self.dataset, self.partition, self.date)

    def to_bytes(self) -> bytes:
        """The message payload."""
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> JobSpec:
        """Parse a payload; IngestError if it is not a job."""
        try:
            body = json.loads(data)
            spec = cls(**body)
        except (ValueError, TypeError) as exc:
            raise IngestError(f"not a compaction job: {data[:80]!r} ({exc})") from None
        if not all(isinstance(v, str) for v in (spec.dataset, spec.partition, spec.date)):
            raise IngestError(f"not a compaction job: {data[:80]!r}")
        return spec


@dataclass(frozen=True)
class JobReport:
    """One try of a job, as published on `lake.events.compaction`."""

    job: str  # JobSpec.id
    request: str
    worker: str
    attempt: int
    max_tries: int
    final: bool  # no further try will follow (ok/empty, or terminated)
    terminated: bool
    result: CompactionResult

    def to_bytes(self) -> bytes:
        """JSON: the fields, with the result as `CompactionResult.to_dict`."""
        body = asdict(self)
        body["result"] = self.result.to_dict()
        return json.dumps(body).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> JobReport:
        """Parse what `to_bytes` wrote; IngestError if it is something else."""
        try:
            body = json.loads(data)
            raw = dict(body.pop("result"))
            raw["quarantined"] = tuple(QuarantinedFile(**q) for q in raw.get("quarantined", ()))
            return cls(result=CompactionResult(**raw), **body)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IngestError(f"not a compaction report: {data[:80]!r} ({exc})") from None


def worker_name() -> str:
    """`host:pid`: names the worker in reports."""
    return f"{socket.gethostname()}:{os.getpid()}"


# -- the stream and the consumer -------------------------------------------------------


async def ensure_queue(js: JetStreamContext, ack_wait_s: float, max_deliver: int) -> None:
    """Create LAKE_JOBS and its durable consumer when missing (existing ones are kept)."""
    stream = StreamConfig(
        name=STREAM, subjects=[SUBJECT], retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE, duplicate_window=DUPLICATE_WINDOW_S,
    )
    try:
        await js.stream_info(STREAM)
    except nats.js.errors.NotFoundError:
        await _call(js.add_stream(stream), f"cannot create stream {STREAM}")
    consumer = ConsumerConfig(
        durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait_s,
        # One more than our own limit: the worker terminates the last try itself (and
        # reports it); the server's limit only catches a worker that died on that try.
        max_deliver=max_deliver + 1, filter_subject=SUBJECT, max_ack_pending=-1,
    )
    try:
        await js.consumer_info(STREAM, DURABLE)
    except nats.js.errors.NotFoundError:
        await _call(js.add_consumer(STREAM, consumer), f"cannot create consumer {DURABLE}")


async def _call(step: Awaitable[Any], what: str) -> None:
    try:
        await step
    except nats.js.errors.BadRequestError as exc:
        if "already" not in str(exc).lower():  # a racing worker created it: fine
            raise IngestError(f"{what}: {exc}") from exc
    except (nats.js.errors.Error, nats.errors.Error) as exc:
        raise IngestError(f"{what}: {exc!r}") from exc


async def submit(js: JetStreamContext, specs: Sequence[JobSpec]) -> int:
    """Publish jobs (each once: its id is the message id); returns how many were stored."""
    stored = 0
    for spec in specs:
        try:
            ack = await js.publish(SUBJECT, spec.to_bytes(), headers={"Nats-Msg-Id": spec.id})
        except (nats.js.errors.Error, nats.errors.Error) as exc:
            raise IngestError(f"cannot queue {spec.job.key}: {exc!r}") from exc
        stored += 0 if ack.duplicate else 1
    return stored


async def queue_depth(js: JetStreamContext) -> tuple[int, int] | None:
    """(queued, running) jobs of LAKE_JOBS, or None when there is no queue."""
    try:
        info = await js.consumer_info(STREAM, DURABLE)
    except nats.js.errors.NotFoundError:
        return None
    return info.num_pending or 0, info.num_ack_pending or 0


# -- the worker ---------------------------------------------------------------------------


@dataclass
class WorkerOptions:
    """How a worker runs its jobs."""

    ack_wait_s: float
    max_tries: int
    name: str = field(default_factory=worker_name)
    delay_s: float = 0.0  # test-only, from DELAY_ENV
    lease_ttl_s: float = 900.0

    @property
    def busy_delay_s(self) -> float:
        """Wait before retrying a `busy` job: its tries then span the lease TTL, so a
        lease whose holder died on another host has expired by the last try."""
        return max(1.0, self.lease_ttl_s / max(1, self.max_tries - 1))


def delay_from_env() -> float:
    """The test-only pre-job delay (0 when unset or unparsable)."""
    try:
        return max(0.0, float(os.environ.get(DELAY_ENV, "0")))
    except ValueError:
        return 0.0


class JobWorker:
    """Pulls jobs one at a time and runs each with `run_job` in a thread."""

    def __init__(self, nc: NATSClient, js: JetStreamContext, run_job: RunJob,
                 options: WorkerOptions, on_report: Callable[[JobReport], None]) -> None:
        self.nc, self.js = nc, js
        self.run_job = run_job
        self.options = options
        self.on_report = on_report
        self.stopping = threading.Event()  # set: finish or give back the current job

    async def run(self) -> None:
        """Fetch and run jobs until `stopping` is set."""
        sub = await self.js.pull_subscribe_bind(DURABLE, STREAM)
        try:
            while not self.stopping.is_set():
                try:
                    msgs = await sub.fetch(1, timeout=1.0)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                except nats.errors.Error as exc:  # a reconnect: the next fetch tries again
                    log.debug("fetch failed: %r", exc)
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    try:
                        await self.handle(msg)
                    except Exception as exc:  # an ack lost to a reconnect…: redelivered later
                        log.warning("job %s not settled: %s", msg.metadata.sequence.stream,
                                    describe(exc))
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def handle(self, msg: Msg) -> None:
        """Run one delivered job and ack, retry or terminate it."""
        attempt = msg.metadata.num_delivered
        try:
            spec = JobSpec.from_bytes(msg.data)
        except IngestError as exc:
            await msg.term()  # never a job: no try can succeed
            await self._report(JobSpec("?", "?", "?", id="?"), attempt, True, True,
                         CompactionResult("?", "?", "?", "?", error=str(exc)))
            return
        result = await self._run_with_heartbeat(msg, spec)
        await self._settle(msg, spec, attempt, result)

    async def _run_with_heartbeat(self, msg: Msg, spec: JobSpec) -> CompactionResult:
        beat = asyncio.get_running_loop().create_task(self._heartbeat(msg))
        try:
            if self.options.delay_s:
                await self._wait(self.options.delay_s)
            return await asyncio.to_thread(self.run_job, spec.job, spec.force, self.stopping)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stopping.is_set():
            await asyncio.sleep(min(0.1, seconds))

    async def _heartbeat(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.options.ack_wait_s / 3))
            try:
                await msg.in_progress()
            except nats.errors.Error as exc:  # the job may be redelivered: the lease decides
                log.warning("in-progress signal failed: %r", exc)

    async def _settle(self, msg: Msg, spec: JobSpec, attempt: int,
                      result: CompactionResult) -> None:
        if result.status == "cancelled":  # stopping: give the job back, untried
            await msg.nak()
            return
        done = result.status in ("ok", "empty")
        final = done or attempt >= self.options.max_tries
        terminated = final and not done
        if terminated:
            result = result.but(error=f"{result.error or result.status}; terminated after "
                                      f"{attempt} tries")
        # Report before the ack: a crash between the two redelivers the job (at least
        # once); the rerun finds Silver current and reports `unchanged`.
        await self._report(spec, attempt, final, terminated, result)
        if done:
            await msg.ack_sync()
        elif terminated:
            await msg.term()
        elif result.status == "busy":
            await msg.nak(delay=self.options.busy_delay_s)
        else:
            await msg.nak(delay=min(RETRY_DELAY_MAX_S, 2.0 ** (attempt - 1)))

    async def _report(self, spec: JobSpec, attempt: int, final: bool, terminated: bool,
                      result: CompactionResult) -> None:
        report = JobReport(spec.id, spec.request, self.options.name, attempt,
                           self.options.max_tries, final, terminated, result)
        self.on_report(report)
        try:
            await self.nc.publish(RESULTS, report.to_bytes())
            await self.nc.flush(timeout=5)
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("could not publish the result of %s: %s", report.result.key,
                        describe(exc))


# -- a request from the command line ------------------------------------------------------


async def request(url: str, specs: Sequence[JobSpec], ack_wait_s: float, max_deliver: int,
                  on_final: Callable[[JobReport], None] | None = None) -> int:
    """Queue `specs`; with `on_final`, also wait for each job's first final report.

    Listens before queuing, so no result is missed. Returns how many jobs were stored.
    """
    try:
        nc = await nats.connect(url, connect_timeout=CONNECT_TIMEOUT_S, allow_reconnect=False,
                                name="lakeconsole-submit")
    except (OSError, nats.errors.Error, TimeoutError) as exc:
        raise IngestError(f"cannot reach NATS at {url}: {exc!r}") from None
    try:
        js = nc.jetstream()
        await ensure_queue(js, ack_wait_s, max_deliver)
        finals: asyncio.Queue[JobReport] = asyncio.Queue()
        ids = {spec.id for spec in specs}
        if on_final is not None:
            await nc.subscribe(RESULTS, cb=_collector(ids, finals))
            await nc.flush()
        stored = await submit(js, specs)
        if on_final is not None:
            await _await_finals(finals, ids, on_final)
        return stored
    finally:
        await nc.close()


def _collector(ids: set[str], finals: asyncio.Queue[JobReport]
               ) -> Callable[[Msg], Awaitable[None]]:
    async def on_message(msg: Msg) -> None:
        try:
            report = JobReport.from_bytes(msg.data)
        except IngestError:
            return
        if report.job in ids and report.final:
            finals.put_nowait(report)

    return on_message


async def _await_finals(finals: asyncio.Queue[JobReport], ids: set[str],
                        on_final: Callable[[JobReport], None]) -> None:
    waiting = set(ids)
    while waiting:
        report = await finals.get()
        if report.job in waiting:  # a redelivered job reported twice: the first counts
            waiting.discard(report.job)
            on_final(report)
