"""`lakeconsole compact --submit`: queue the planned jobs on LAKE_JOBS for workers.

Without `--wait` it prints what was queued and exits 0. With `--wait` it listens on
`lake.events.compaction` (before queuing, so no result is missed) and prints each job's
final result as workers report it; the exit code is then `compact`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid

from lakeconsole.commands.compact import _exit_code, _line
from lakeconsole.config import Settings
from lakeconsole.ingest import jobs
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.result import CompactionResult


def run_submit(args: argparse.Namespace, settings: Settings) -> int:
    """Plan as `compact` does, queue the jobs (and with --wait, print their results)."""
    compactor = SilverCompactor(Storage.from_settings(settings.storage), settings)
    planned = compactor.plan(None if args.all_dates else args.date, args.schema,
                             args.partition)
    if not planned:
        print("nothing to compact: no Bronze data matches", file=sys.stderr)
        return 0
    request = uuid.uuid4().hex[:12]
    specs = [jobs.JobSpec(j.dataset, j.value, j.date, args.force, request) for j in planned]
    results: list[CompactionResult] = []

    def show(report: jobs.JobReport) -> None:
        results.append(report.result)
        body = {**report.result.to_dict(), "worker": report.worker,
                "attempt": report.attempt, "terminated": report.terminated}
        print(json.dumps(body) if args.json else f"{_line(report.result)}  [{report.worker}]",
              flush=True)

    silver = settings.silver
    stored = asyncio.run(jobs.request(settings.nats.url, specs, silver.job_ack_wait_s,
                                      silver.job_max_deliver, show if args.wait else None))
    print(f"queued {stored} jobs on {jobs.STREAM} (request {request})", file=sys.stderr,
          flush=True)
    return _exit_code(results) if args.wait else 0
