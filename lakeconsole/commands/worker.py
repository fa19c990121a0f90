"""`lakeconsole worker`: run compaction jobs from the LAKE_JOBS queue, one line per job.

Any number of workers on any machines that reach the NATS cluster and the lake share the
queue (see `lakeconsole.ingest.jobs`). SIGTERM or SIGINT: the current jobs finish, or
stop before their switch and are given back to the queue; then the worker exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from lakeconsole.commands.compact import _line
from lakeconsole.config import Settings
from lakeconsole.errors import CompactionError, IngestError
from lakeconsole.ingest import jobs
from lakeconsole.ingest.bus import NATSBus
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Serve jobs until a stop signal; exit 0 after a clean stop."""
    if args.concurrency < 1:
        raise CompactionError("--concurrency must be at least 1")
    return asyncio.run(_main(settings, args.concurrency))


def print_report(report: jobs.JobReport) -> None:
    """One line per try: the compact command's line, then the try and the worker."""
    tries = f"try {report.attempt}/{report.max_tries}"
    if report.terminated:
        tries += " terminated"
    elif not report.final:
        tries += " will retry"
    print(f"{_line(report.result)}  [{tries}, {report.worker}]", flush=True)


async def _main(settings: Settings, concurrency: int) -> int:
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, settings)
    silver = settings.silver
    options = jobs.WorkerOptions(silver.job_ack_wait_s, silver.job_max_deliver,
                                 delay_s=jobs.delay_from_env(), lease_ttl_s=silver.lease_ttl_s)
    bus = NATSBus(name="lakeconsole-worker")
    workers: list[jobs.JobWorker] = []
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        for worker in workers:
            worker.stopping.set()
        if not workers:  # still connecting: give up the connection attempt
            asyncio.get_running_loop().create_task(bus.close())

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await bus.connect(settings.nats.url)
    except IngestError:
        if stopping.is_set():
            return 0
        raise
    try:
        await jobs.ensure_queue(bus.js, silver.job_ack_wait_s, silver.job_max_deliver)
        workers.extend(jobs.JobWorker(bus.nc, bus.js, compactor.run_job, options,
                                      print_report) for _ in range(concurrency))
        if stopping.is_set():
            return 0
        print(f"worker {options.name} ready: {concurrency} at a time from "
              f"{jobs.STREAM}, lake {storage.url}", file=sys.stderr, flush=True)
        await asyncio.gather(*(w.run() for w in workers))
        print(f"worker {options.name} stopped", file=sys.stderr, flush=True)
        return 0
    finally:
        await bus.close()
