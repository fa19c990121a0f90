"""Fault injection: kill -9 of the service, a NATS restart, SIGTERM; nothing acked is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from lakeconsole.service import Service
from tests.ingest.helpers import (
    BASE_NS,
    encode,
    publish,
    read_tier,
    settings_for,
    trade,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def headless(root: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    """`lakeconsole --headless` as a child process with stderr captured."""
    env = {**os.environ, "DATA_ROOT": str(root), "NATS_URL": url, "PYTHONUNBUFFERED": "1"}
    env.pop("LAKECONSOLE_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "lakeconsole", "--headless", *extra],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        cwd=root.parent,
    )


async def started(child: subprocess.Popen[str]) -> list[str]:
    """Read stderr until both writers report started; returns the lines read."""
    assert child.stderr is not None
    lines: list[str] = []
    while not any("Gold writer started" in line for line in lines):
        line = await asyncio.to_thread(child.stderr.readline)
        assert line, "headless exited early:\n" + "".join(lines)
        lines.append(line)
    return lines


def short_ack_wait(tmp_path: Path) -> str:
    """A config file whose ack_wait makes redelivery of a killed writer's messages quick."""
    path = tmp_path / "fast-redelivery.toml"
    path.write_text("[nats]\nack_wait_s = 3.0\n\n[bronze]\nmax_age_s = 0.5\n")
    return str(path)


async def consumer_drained(url: str, durable: str = "lake-bronze") -> bool:
    """True when the durable consumer has nothing pending and nothing unacked."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info("MARKET", durable)
    except nats.js.errors.NotFoundError:
        return False
    finally:
        await nc.close()
    return info.num_pending == 0 and info.num_ack_pending == 0


async def wait_drained(url: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await consumer_drained(url):
        assert asyncio.get_running_loop().time() < deadline, "consumer never drained"
        await asyncio.sleep(0.2)


def seqs_in_bronze(root: Path) -> set[int]:
    table = read_tier(root, "bronze/stocks/trades")
    return set(table.column("seq").to_pylist()) if table.num_rows else set()


async def test_kill_9_mid_stream_loses_nothing(tmp_path: Path, nats_url: str):
    """kill -9 while writing, restart: every published event is in Bronze (dups allowed)."""
    root = tmp_path / "lake"
    config = short_ack_wait(tmp_path)
    n = 60_000
    events = [trade(i, BASE_NS + i * 1_000_000) for i in range(n)]
    first = headless(root, nats_url, "--config", config)
    await started(first)
    publisher = asyncio.create_task(
        publish(nats_url, [("market.stocks.trades", encode(e)) for e in events])
    )
    await wait_for(lambda: len(seqs_in_bronze(root)) >= 3000, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert len(seqs_in_bronze(root)) < n, "the kill must land mid-stream"
    await publisher
    second = headless(root, nats_url, "--config", config)
    await started(second)
    try:
        await wait_drained(nats_url)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(20) == 0
    assert seqs_in_bronze(root) == set(range(n))


async def test_nats_restart_loses_nothing(tmp_path: Path, nats_url: str, nats_server):
    """The service reconnects after a NATS restart and keeps ingesting."""
    settings = settings_for(tmp_path / "lake", nats_url, **{"bronze.max_age_s": 0.5})
    service = Service(settings)
    await service.start()
    try:
        await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                                 for i in range(500)])
        await wait_for(lambda: len(seqs_in_bronze(tmp_path / "lake")) == 500)
        await asyncio.to_thread(nats_server.restart)
        await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                                 for i in range(500, 1000)])
        await wait_for(lambda: len(seqs_in_bronze(tmp_path / "lake")) == 1000, timeout=60)
    finally:
        await service.stop()
    assert seqs_in_bronze(tmp_path / "lake") == set(range(1000))


async def test_headless_banner_and_sigterm(tmp_path: Path, nats_url: str):
    """The banner names each writer's root; SIGTERM flushes, acks and exits 0."""
    root = tmp_path / "lake"
    child = headless(root, nats_url)
    lines = await started(child)
    await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                             for i in range(10)])
    await asyncio.sleep(1.0)  # let the messages arrive; they sit in a 5 s buffer
    child.send_signal(signal.SIGTERM)
    _, rest = await asyncio.to_thread(child.communicate, timeout=20)
    text = "".join(lines) + rest
    assert child.returncode == 0
    assert "LAKE SERVICE" in text
    assert f"{root}/bronze" in text and f"{root}/gold" in text
    assert "stopped cleanly" in text
    # flushes are logged
    assert "INFO    lakeconsole.ingest.stream_writers: flushed stocks.trades" in text
    assert seqs_in_bronze(root) == set(range(10))
    assert await consumer_drained(nats_url)


async def test_headless_keeps_retrying_when_nats_is_down(tmp_path: Path):
    """With no server it says so and keeps trying; SIGTERM still exits cleanly."""
    from tests.conftest import free_port

    child = headless(tmp_path / "lake", f"nats://127.0.0.1:{free_port()}")
    assert child.stderr is not None
    while "LAKE SERVICE" not in await asyncio.to_thread(child.stderr.readline):
        assert child.poll() is None
    await asyncio.sleep(2)
    assert child.poll() is None, "it must not exit while NATS is unreachable"
    child.send_signal(signal.SIGTERM)
    _, err = await asyncio.to_thread(child.communicate, timeout=20)
    assert child.returncode == 0
    assert "disconnected" in err.lower()


async def test_failed_write_is_redelivered_not_lost(tmp_path: Path, nats_url: str):
    """Storage refuses a flush: an error event, a NAK, and the rows land once it recovers."""
    from lakeconsole import events as ev

    root = tmp_path / "lake"
    root.mkdir()
    (root / "bronze").write_text("a file where the bronze directory should be")
    settings = settings_for(root, nats_url, **{"bronze.max_age_s": 0.3})
    service = Service(settings)
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    await service.start()
    try:
        await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                                 for i in range(20)])
        await wait_for(lambda: any(isinstance(e, ev.ErrorRaised) for e in seen))
        errors = [e for e in seen if isinstance(e, ev.ErrorRaised)]
        assert "will be redelivered" in errors[0].message
        (root / "bronze").unlink()  # storage is back
        await wait_for(lambda: len(seqs_in_bronze(root)) == 20, timeout=30)
    finally:
        await service.stop()
    assert seqs_in_bronze(root) == set(range(20))
    assert await consumer_drained(nats_url)
