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
from collections.abc import Awaitable, Callable, Sequence

import nats
import nats.errors
from nats.aio.msg import Msg

from lakeconsole.commands.compact import _exit_code, _line
from lakeconsole.config import Settings
from lakeconsole.errors import IngestError
from lakeconsole.ingest import jobs
from lakeconsole.silver.compactor import CompactionJob
from lakeconsole.silver.result import CompactionResult

CONNECT_TIMEOUT_S = 5.0


def run_submit(args: argparse.Namespace, settings: Settings, planned: Sequence[CompactionJob]
               ) -> int:
    """Queue `planned` (and with --wait, print their results); the exit code."""
    request = uuid.uuid4().hex[:12]
    specs = [jobs.JobSpec(j.dataset, j.value, j.date, args.force, request) for j in planned]
    return asyncio.run(_submit(settings, specs, args.wait, args.json))


async def _submit(settings: Settings, specs: list[jobs.JobSpec], wait: bool,
                  as_json: bool) -> int:
    url = settings.nats.url
    try:
        nc = await nats.connect(url, connect_timeout=CONNECT_TIMEOUT_S, allow_reconnect=False,
                                name="lakeconsole-submit")
    except (OSError, nats.errors.Error, TimeoutError) as exc:
        raise IngestError(f"cannot reach NATS at {url}: {exc!r}") from None
    try:
        silver = settings.silver
        js = nc.jetstream()
        await jobs.ensure_queue(js, silver.job_ack_wait_s, silver.job_max_deliver)
        finals: asyncio.Queue[jobs.JobReport] = asyncio.Queue()
        if wait:
            await nc.subscribe(jobs.RESULTS, cb=_collector(specs[0].request, finals))
            await nc.flush()
        stored = await jobs.submit(js, specs)
        print(f"queued {stored} jobs on {jobs.STREAM} (request {specs[0].request})",
              file=sys.stderr, flush=True)
        if not wait:
            return 0
        return await _await_results(finals, len(specs), as_json)
    finally:
        await nc.close()


def _collector(request: str, finals: asyncio.Queue[jobs.JobReport]
               ) -> Callable[[Msg], Awaitable[None]]:
    async def on_message(msg: Msg) -> None:
        try:
            report = jobs.JobReport.from_bytes(msg.data)
        except IngestError:
            return
        if report.request == request and report.final:
            finals.put_nowait(report)

    return on_message


async def _await_results(finals: asyncio.Queue[jobs.JobReport], count: int,
                         as_json: bool) -> int:
    seen: dict[str, CompactionResult] = {}
    while len(seen) < count:
        report = await finals.get()
        if report.job in seen:
            continue  # a redelivered job reported twice: the first final result counts
        seen[report.job] = report.result
        body = {**report.result.to_dict(), "worker": report.worker,
                "attempt": report.attempt, "terminated": report.terminated}
        print(json.dumps(body) if as_json else f"{_line(report.result)}  [{report.worker}]",
              flush=True)
    return _exit_code(list(seen.values()))
