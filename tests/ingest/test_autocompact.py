"""`[silver] auto` in a running Service: closed hours and late data are compacted by
themselves; an open hour is not; failures are events and the loop goes on.

Real nats-server (fixture), a local lake, the Service's own loop with its real clock
(`auto_delay_s` = 1 s, so a plan every second).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakeconsole import events as ev
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.ops.metrics import LakeMetrics
from lakeconsole.service import Service
from lakeconsole.silver import layout
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write
from tests.ingest.helpers import settings_for
from tests.ingest.processes import lakeconsole, wait_for_line

pytestmark = pytest.mark.slow


def now_hour_ns() -> int:
    """The start of an hour that stays open for the whole test (this one, or the next)."""
    now = time.time_ns()
    start = now - now % HOUR_NS
    return start if start + HOUR_NS - now > 300 * 1_000_000_000 else start + HOUR_NS


def silver_seqs(storage: Storage, symbol: str, day: str) -> list[int]:
    """`seq` of the current Silver generation, in order."""
    manifest = layout.read_manifest(storage, TRADES, symbol, day)
    assert manifest is not None
    base = layout.date_dir(TRADES, symbol, day)
    seqs: list[int] = []
    for f in manifest.files:
        seqs += pq.read_table(storage.open(f"{base}/{f.path}")).column("seq").to_pylist()
    return seqs


async def until(check: Callable[[], bool], timeout: float, what: str,
                seen: list[ev.Event]) -> None:
    """Await `check()` (generous deadline: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s; events: " + \
            repr([e for e in seen if not isinstance(e, ev.ConsumerLag | ev.StreamState)][-20:])
        await asyncio.sleep(0.2)


async def test_closed_hours_and_late_data_are_compacted_and_an_open_hour_waits(
    tmp_path: Path, nats_url: str,
) -> None:
    root = tmp_path / "lake"
    storage = Storage(str(root))
    h9 = DAY_NS + 9 * HOUR_NS
    write(storage, trade_table("SPY", [h9 + i * 1_000 for i in range(10)]))
    open_hour = now_hour_ns()
    today, _ = partitioning.hour_of(open_hour)
    write(storage, trade_table("NOW", [open_hour + i * 1_000 for i in range(5)]))
    settings = settings_for(root, nats_url, **{"silver.auto": True, "silver.auto_delay_s": 1.0})
    service = Service(settings)
    seen: list[ev.Event] = []
    metrics = LakeMetrics()
    service.subscribe(seen.append)
    service.subscribe(metrics.apply)

    def finished(key: str) -> list[ev.CompactionFinished]:
        return [e for e in seen if isinstance(e, ev.CompactionFinished) and e.key == key]

    spy = f"stocks.trades/SPY/{DAY}"
    await service.start()
    try:
        await until(lambda: len(finished(spy)) == 1, 60, "first compaction", seen)
        first = finished(spy)[0]
        assert (first.source, first.result.status, first.result.generation) == ("auto", "ok", 1)
        assert silver_seqs(storage, "SPY", DAY) == list(range(10))
        # Late data into the hour compacted already: seq 0..14, of which 0..9 are repeats.
        write(storage, trade_table("SPY", [h9 + i * 1_000 for i in range(15)]))
        await until(lambda: len(finished(spy)) == 2, 60, "late-data recompaction", seen)
        second = finished(spy)[1].result
        assert (second.status, second.generation, second.duplicates_removed) == ("ok", 2, 10)
        assert silver_seqs(storage, "SPY", DAY) == list(range(15))
        await asyncio.sleep(3.0)  # three more plans: nothing changed, nothing rerun
        assert len(finished(spy)) == 2
    finally:
        await service.stop()
    assert finished(f"stocks.trades/NOW/{today}") == []  # its hour is still open
    assert layout.read_manifest(storage, TRADES, "NOW", today) is None
    queues = [e for e in seen if isinstance(e, ev.CompactionQueue)]
    assert (queues[-1].done, queues[-1].failed, queues[-1].queued) == (2, 0, 0)
    assert metrics.registry.get_sample_value(
        "lakeconsole_compaction_queue_jobs", {"state": "done"}) == 2.0


async def test_a_partition_that_cannot_be_planned_is_an_event_and_the_others_go_on(
    tmp_path: Path, nats_url: str,
) -> None:
    root = tmp_path / "lake"
    storage = Storage(str(root))
    h9 = DAY_NS + 9 * HOUR_NS
    for symbol in ("BAD", "SPY"):
        write(storage, trade_table(symbol, [h9 + i * 1_000 for i in range(10)]))
    storage.write_atomic(layout.manifest_path(TRADES, "BAD", DAY), b"{not json")
    settings = settings_for(root, nats_url, **{"silver.auto": True, "silver.auto_delay_s": 1.0})
    service = Service(settings)
    seen: list[ev.Event] = []
    service.subscribe(seen.append)

    def errors() -> list[ev.ErrorRaised]:
        return [e for e in seen if isinstance(e, ev.ErrorRaised) and e.where == "auto compaction"]

    await service.start()
    try:
        await until(lambda: any(isinstance(e, ev.CompactionFinished) for e in seen), 60,
                    "SPY compacted", seen)
        await asyncio.sleep(3.0)  # more plans: the same problem is not reported again
        assert len(errors()) == 1 and "BAD" in errors()[0].message
        assert "unreadable Silver manifest" in errors()[0].message
        storage.delete([layout.manifest_path(TRADES, "BAD", DAY)])  # an operator fixes it
        await until(lambda: any(isinstance(e, ev.CompactionFinished) and "BAD" in e.key
                                for e in seen), 60, "BAD compacted once fixed", seen)
    finally:
        await service.stop()
    assert silver_seqs(storage, "BAD", DAY) == list(range(10))
    assert silver_seqs(storage, "SPY", DAY) == list(range(10))


async def test_auto_submit_queues_for_workers_and_the_service_shows_their_results(
    tmp_path: Path, nats_url: str,
) -> None:
    root = tmp_path / "lake"
    storage = Storage(str(root))
    h9 = DAY_NS + 9 * HOUR_NS
    write(storage, trade_table("SPY", [h9 + i * 1_000 for i in range(10)]))
    settings = settings_for(root, nats_url, **{
        "silver.auto": True, "silver.auto_delay_s": 1.0, "silver.auto_submit": True})
    service = Service(settings)
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    log = tmp_path / "worker.log"
    worker = lakeconsole(root, log, "worker", nats_url=nats_url)
    try:
        await wait_for_line(log, "ready:", worker, timeout=60)
        await service.start()
        try:
            await until(lambda: any(isinstance(e, ev.CompactionFinished) for e in seen), 60,
                        "a worker's result", seen)
            await asyncio.sleep(3.0)  # more plans: the same Bronze is not queued again
        finally:
            await service.stop()
    finally:
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0, log.read_text()
    (done,) = [e for e in seen if isinstance(e, ev.CompactionFinished)]
    assert done.source == f"worker {socket.gethostname()}:{worker.pid}"
    assert (done.key, done.result.status) == (f"stocks.trades/SPY/{DAY}", "ok")
    queues = [e for e in seen if isinstance(e, ev.CompactionQueue)]
    assert queues[-1].source == "queue" and queues[-1].done == 1
    assert silver_seqs(storage, "SPY", DAY) == list(range(10))
