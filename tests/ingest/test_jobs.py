"""Compaction jobs over NATS: `lakeconsole worker` processes, `compact --submit`, moto S3.

Real nats-server (session fixture), real worker subprocesses, a moto S3 lake. Results are
counted on `lake.events.compaction`; Silver is checked against the Bronze written.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pyarrow as pa
import pytest
from nats.aio.msg import Msg

from lakeconsole.contract.schemas import by_name
from lakeconsole.ingest import jobs
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout
from lakeconsole.silver.lease import Lease
from tests.conftest import s3_options

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DAY = "2024-03-01"
H10 = partitioning.day_bounds(DAY)[0] + 10 * partitioning.NS_PER_HOUR
TRADES = by_name("stocks.trades")
SYMBOLS = [f"S{i:02d}" for i in range(20)]
ROWS = 300  # distinct rows per symbol; each is written twice (dedup must drop the repeat)
ACK_WAIT_S = 2


def write_bronze(storage: Storage, symbols: list[str]) -> None:
    """ROWS distinct trades per symbol, in two overlapping Bronze files (half repeats)."""
    for lo, hi in ((0, ROWS * 2 // 3), (ROWS // 3, ROWS)):
        rows = [{"ts_event_ns": H10 + i * 1000, "ts_recv_ns": H10 + i * 1000 + 5,
                 "source": "nats", "symbol": s, "price": 500.0 + i, "size": i + 1,
                 "exchange": 1, "seq": i} for s in symbols for i in range(lo, hi)]
        PartitionedWriter(storage).write(TRADES, pa.Table.from_pylist(rows, schema=TRADES.schema))


def config(tmp_path: Path, bucket: str, endpoint: str, max_deliver: int = 3) -> Path:
    """A config file for the moto lake with a short ack wait."""
    path = tmp_path / "lakeconsole.toml"
    path.write_text(
        f'[storage]\nroot = "s3://{bucket}/lake"\ns3_endpoint = "{endpoint}"\n'
        f's3_access_key = "testing"\ns3_secret_key = "testing"\n'
        f"[silver]\njob_ack_wait_s = {ACK_WAIT_S}\njob_max_deliver = {max_deliver}\n")
    return path


def spawn(tmp_path: Path, name: str, cfg: Path, url: str, *args: str,
          delay: float = 0.0) -> tuple[subprocess.Popen[bytes], Path]:
    """`python -m lakeconsole ARGS` with the config; stdout+stderr to `name`.log."""
    env = {**os.environ, "LAKECONSOLE_CONFIG": str(cfg), "NATS_URL": url,
           "PYTHONUNBUFFERED": "1"}
    env.pop(jobs.DELAY_ENV, None)
    if delay:
        env[jobs.DELAY_ENV] = str(delay)
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lakeconsole", *args], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    return proc, log


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes to stop (SIGTERM, then SIGKILL) when the test ends."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_worker(tmp_path: Path, name: str, cfg: Path, url: str,
                 children: list[subprocess.Popen[bytes]], delay: float = 0.0
                 ) -> tuple[subprocess.Popen[bytes], Path]:
    """A worker that has said it is ready."""
    proc, log = spawn(tmp_path, name, cfg, url, "worker", delay=delay)
    children.append(proc)
    wait_for(lambda: "ready:" in log.read_text(errors="replace"), 60, log)
    return proc, log


def wait_for(done: object, timeout: float, log: Path | None = None) -> None:
    """Poll `done()` until true (generous deadlines: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        detail = log.read_text(errors="replace") if log else ""
        assert time.monotonic() < deadline, f"not done in {timeout} s\n{detail}"
        time.sleep(0.2)


class Reports:
    """Every JobReport published on lake.events.compaction while listening."""

    def __init__(self) -> None:
        self.items: list[jobs.JobReport] = []

    async def on_message(self, msg: Msg) -> None:
        """Collect one report."""
        self.items.append(jobs.JobReport.from_bytes(msg.data))

    def finals(self) -> list[jobs.JobReport]:
        """The final reports (one per job and request, when all is well)."""
        return [r for r in self.items if r.final]


async def listen(url: str) -> tuple[nats.NATS, Reports]:
    """A connection subscribed to the results subject."""
    nc = await nats.connect(url)
    reports = Reports()
    await nc.subscribe(jobs.RESULTS, cb=reports.on_message)
    await nc.flush()
    return nc, reports


async def until(check: object, timeout: float, what: str) -> None:
    """Await until `check()` is true."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.2)


def silver_rows(storage: Storage, symbol: str) -> pa.Table:
    """The current Silver generation's rows of one symbol."""
    manifest = layout.read_manifest(storage, TRADES, symbol, DAY)
    assert manifest is not None, f"no Silver for {symbol}"
    base = layout.date_dir(TRADES, symbol, DAY)
    import pyarrow.parquet as pq

    tables = [pq.read_table(storage.open(f"{base}/{f.path}")) for f in manifest.files]
    return pa.concat_tables(tables)


def assert_silver_exact(storage: Storage, symbols: list[str]) -> None:
    """Each symbol's Silver holds exactly its ROWS distinct trades, in order."""
    for symbol in symbols:
        table = silver_rows(storage, symbol)
        assert table.column("seq").to_pylist() == list(range(ROWS)), symbol
        assert table.column("ts_event_ns").to_pylist() == [H10 + i * 1000 for i in range(ROWS)]


async def queue_empty(url: str) -> tuple[int, int]:
    """(pending, ack pending) of the workers' consumer."""
    nc = await nats.connect(url)
    try:
        depth = await jobs.queue_depth(nc.jetstream())
        assert depth is not None
        info = await nc.jetstream().stream_info(jobs.STREAM)
        assert info.state.messages == 0, f"{info.state.messages} jobs left in {jobs.STREAM}"
        return depth
    finally:
        await nc.close()


async def test_two_workers_share_twenty_partitions_each_compacted_once(
    tmp_path: Path, nats_url: str, s3_endpoint: str, s3_bucket: str,
    children: list[subprocess.Popen[bytes]],
) -> None:
    storage = Storage(f"s3://{s3_bucket}/lake", s3_options(s3_endpoint))
    write_bronze(storage, SYMBOLS)
    cfg = config(tmp_path, s3_bucket, s3_endpoint)
    w1 = start_worker(tmp_path, "w1", cfg, nats_url, children)
    w2 = start_worker(tmp_path, "w2", cfg, nats_url, children)
    nc, reports = await listen(nats_url)
    try:
        for request in range(2):  # the second request finds Silver current: `unchanged`
            before = len(reports.finals())
            sub, log = spawn(tmp_path, f"submit{request}", cfg, nats_url, "compact",
                             "--date", DAY, "--submit", "--wait", "--json")
            code = await asyncio.to_thread(sub.wait, 180)
            assert code == 0, log.read_text()
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
            assert sorted(x["key"] for x in lines) == sorted(
                f"stocks.trades/{s}/{DAY}" for s in SYMBOLS)
            await until(lambda b=before: len(reports.finals()) >= b + 20, 60, "reports")
            await asyncio.sleep(1.0)  # any duplicate report would arrive meanwhile
            finals = reports.finals()[before:]
            per_key = Counter(r.result.key for r in finals)
            assert set(per_key.values()) == {1} and len(per_key) == 20, per_key
            assert {r.result.status for r in finals} == {"ok"}
            assert {r.result.unchanged for r in finals} == {bool(request)}
            if request == 0:
                assert {r.result.rows_written for r in finals} == {ROWS}
                assert {r.result.duplicates_removed for r in finals} == {ROWS // 3}
        workers = {r.worker for r in reports.finals()}
        assert len(workers) == 2, f"one worker did all the work: {workers}"
    finally:
        await nc.close()
    assert_silver_exact(storage, SYMBOLS)
    assert await queue_empty(nats_url) == (0, 0)
    for proc, log in (w1, w2):  # SIGTERM: an idle worker stops cleanly at once
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()
        text = log.read_text()
        assert "stopped" in text and "ok        stocks.trades/" in text, text


async def test_a_killed_workers_job_is_redelivered_and_completes_once(
    tmp_path: Path, nats_url: str, s3_endpoint: str, s3_bucket: str,
    children: list[subprocess.Popen[bytes]],
) -> None:
    storage = Storage(f"s3://{s3_bucket}/lake", s3_options(s3_endpoint))
    symbols = SYMBOLS[:4]
    write_bronze(storage, symbols)
    cfg = config(tmp_path, s3_bucket, s3_endpoint)
    # The first worker waits 60 s before each job (the test-only hook), still sending +WPI:
    # it holds its job well past the ack wait, so it is surely mid-job when killed.
    slow, slow_log = start_worker(tmp_path, "slow", cfg, nats_url, children, delay=60)
    nc, reports = await listen(nats_url)
    try:
        sub, log = spawn(tmp_path, "submit", cfg, nats_url, "compact", "--date", DAY,
                         "--submit")
        assert await asyncio.to_thread(sub.wait, 60) == 0, log.read_text()
        js = nc.jetstream()

        async def running() -> int:
            depth = await jobs.queue_depth(js)
            return depth[1] if depth else 0

        deadline = time.monotonic() + 30
        while await running() != 1:
            assert time.monotonic() < deadline, slow_log.read_text()
            await asyncio.sleep(0.2)
        await asyncio.sleep(ACK_WAIT_S * 1.5)  # past one ack wait: only +WPI kept it
        assert await running() == 1 and reports.items == []
        slow.send_signal(signal.SIGKILL)
        slow.wait(timeout=10)
        start_worker(tmp_path, "fast", cfg, nats_url, children)
        await until(lambda: len(reports.finals()) >= len(symbols), 90, "all jobs reported")
        await asyncio.sleep(ACK_WAIT_S + 1.0)  # a second completion would show up by now
        per_key = Counter(r.result.key for r in reports.finals())
        assert len(per_key) == len(symbols) and set(per_key.values()) == {1}, per_key
        assert {r.result.status for r in reports.finals()} == {"ok"}
        assert {r.result.unchanged for r in reports.finals()} == {False}
        redelivered = [r for r in reports.finals() if r.attempt == 2]
        assert len(redelivered) == 1, [(r.result.key, r.attempt) for r in reports.items]
    finally:
        await nc.close()
    assert_silver_exact(storage, symbols)
    assert await queue_empty(nats_url) == (0, 0)


async def test_a_poison_job_is_terminated_after_its_tries_and_reported(
    tmp_path: Path, nats_url: str, s3_endpoint: str, s3_bucket: str,
    children: list[subprocess.Popen[bytes]],
) -> None:
    cfg = config(tmp_path, s3_bucket, s3_endpoint, max_deliver=3)
    _, worker_log = start_worker(tmp_path, "w", cfg, nats_url, children)
    nc, reports = await listen(nats_url)
    try:
        js = nc.jetstream()
        bad = jobs.JobSpec("stocks.trades", "SPY", "2024-02-30", request="poison")
        assert await jobs.submit(js, [bad]) == 1
        await nc.publish(jobs.SUBJECT, b"not json")  # never a job: terminated at once
        await until(lambda: len(reports.finals()) >= 2, 60, "poison reported")
        await asyncio.sleep(ACK_WAIT_S + 4.0)  # no further try may follow the final one
    finally:
        await nc.close()
    tries = [r for r in reports.items if r.job == bad.id]
    assert [(r.attempt, r.final, r.terminated) for r in tries] == [
        (1, False, False), (2, False, False), (3, True, True)]
    assert "not a date" in (tries[-1].result.error or "")
    assert "terminated after 3 tries" in (tries[-1].result.error or "")
    junk = [r for r in reports.items if r.job == "?"]
    assert len(junk) == 1 and junk[0].terminated and "not a compaction job" in (
        junk[0].result.error or "")
    assert await queue_empty(nats_url) == (0, 0)
    text = worker_log.read_text()
    assert "try 3/3 terminated" in text and "will retry" in text


async def test_a_busy_partition_is_retried_after_the_busy_delay_then_completes(
    tmp_path: Path, nats_url: str, s3_endpoint: str, s3_bucket: str,
    children: list[subprocess.Popen[bytes]],
) -> None:
    storage = Storage(f"s3://{s3_bucket}/lake", s3_options(s3_endpoint))
    write_bronze(storage, ["SPY"])
    cfg = config(tmp_path, s3_bucket, s3_endpoint, max_deliver=3)
    cfg.write_text(cfg.read_text() + "lease_ttl_s = 10.0\n")  # busy retry: 10 / (3 - 1) = 5 s
    lease = Lease(storage, f"{layout.date_dir(TRADES, 'SPY', DAY)}/{layout.LOCK_NAME}", 60)
    assert lease.acquire() is None  # a live run of this partition (this test process)
    start_worker(tmp_path, "w", cfg, nats_url, children)
    nc, reports = await listen(nats_url)
    try:
        spec = jobs.JobSpec("stocks.trades", "SPY", DAY, request="busy")
        assert await jobs.submit(nc.jetstream(), [spec]) == 1
        await until(lambda: len(reports.items) >= 1, 60, "first try")
        first_at = time.monotonic()
        lease.release()
        await until(lambda: len(reports.finals()) >= 1, 60, "second try")
        waited = time.monotonic() - first_at
    finally:
        await nc.close()
    tries = [(r.attempt, r.result.status, r.final) for r in reports.items]
    assert tries == [(1, "busy", False), (2, "ok", True)]
    assert waited >= 3.0, f"retried after {waited:.1f} s, before the busy delay"
    assert_silver_exact(storage, ["SPY"])


async def test_sigterm_gives_the_current_job_back_and_another_worker_completes_it(
    tmp_path: Path, nats_url: str, s3_endpoint: str, s3_bucket: str,
    children: list[subprocess.Popen[bytes]],
) -> None:
    storage = Storage(f"s3://{s3_bucket}/lake", s3_options(s3_endpoint))
    write_bronze(storage, ["SPY"])
    cfg = config(tmp_path, s3_bucket, s3_endpoint)
    slow, slow_log = start_worker(tmp_path, "slow", cfg, nats_url, children, delay=60)
    nc, reports = await listen(nats_url)
    try:
        js = nc.jetstream()
        assert await jobs.submit(js, [jobs.JobSpec("stocks.trades", "SPY", DAY)]) == 1
        deadline = time.monotonic() + 30
        while (await jobs.queue_depth(js)) != (0, 1):
            assert time.monotonic() < deadline, slow_log.read_text()
            await asyncio.sleep(0.2)
        slow.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(slow.wait, 30) == 0, slow_log.read_text()
        assert reports.items == []  # given back untried: no report
        start_worker(tmp_path, "fast", cfg, nats_url, children)
        await until(lambda: len(reports.finals()) >= 1, 60, "completed by the other worker")
    finally:
        await nc.close()
    (final,) = reports.items
    assert final.result.status == "ok" and final.attempt == 2
    assert "stopped" in slow_log.read_text()
    assert_silver_exact(storage, ["SPY"])
