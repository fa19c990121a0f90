"""S3 outages through a loopback proxy in front of moto: ingest stalls, says so, and recovers.

Refused and hanging connections, at start, mid-stream and at SIGTERM. The end state is
checked against what was published: every event in Bronze (duplicates allowed), each
exactly once in Silver, bad input in quarantine, nothing left pending in NATS.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.lake.storage import Storage
from lakeconsole.service import Service
from lakeconsole.silver.compactor import SilverCompactor
from tests.conftest import s3_options
from tests.faults import TcpProxy
from tests.ingest.helpers import BASE_NS, encode, publish, settings_for, trade, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.s3, pytest.mark.timeout(150)]
SUBJECT = "market.stocks.trades"
DAY = "2026-01-01"


def s3_settings(bucket: str, endpoint: str, nats_url: str, **extra: Any) -> Settings:
    """A lake at s3://bucket/lake reached through `endpoint` (the proxy), failing fast."""
    values = {
        "storage.s3_endpoint": endpoint, "storage.s3_access_key": "testing",
        "storage.s3_secret_key": "testing", "storage.timeout_s": 1.0,
        "bronze.max_age_s": 0.3, "nats.nak_delay_s": 0.2, "nats.nak_delay_max_s": 1.0,
        **extra,
    }
    return settings_for(f"s3://{bucket}/lake", nats_url, **values)


def read_s3(endpoint: str, bucket: str, tier_path: str) -> pa.Table:
    """Every visible Parquet row under a directory of the lake, read straight from moto."""
    storage = Storage(f"s3://{bucket}/lake", s3_options(endpoint))
    files = [storage.full(f.path) for f in storage.files(tier_path)]
    if not files:
        return pa.table({})
    return pads.dataset(files, format="parquet", filesystem=storage.fs).to_table()


async def consumer_state(url: str) -> tuple[int, int]:
    """(pending, unacked) of the Bronze consumer; (-1, -1) before it exists."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info("MARKET", "lake-bronze")
    except nats.js.errors.NotFoundError:
        return -1, -1
    finally:
        await nc.close()
    return info.num_pending or 0, info.num_ack_pending or 0


async def wait_drained(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while await consumer_state(url) != (0, 0):
        assert time.monotonic() < deadline, await consumer_state(url)
        await asyncio.sleep(0.2)


def trades(start: int, n: int) -> list[tuple[str, bytes]]:
    return [(SUBJECT, encode(trade(i, BASE_NS + i * 1_000))) for i in range(start, start + n)]


def storage_errors(seen: list[ev.Event]) -> list[ev.ErrorRaised]:
    return [e for e in seen if isinstance(e, ev.ErrorRaised)
            and e.where in ("flush stocks.trades", "quarantine", "storage")]


async def run_through_outage(
    mode: str, bucket: str, s3_endpoint: str, nats_url: str
) -> list[ev.Event]:
    """Ingest 200 events, break storage (`mode`), ingest 200 more and a bad one, heal."""
    seen: list[ev.Event] = []
    with TcpProxy.for_url(s3_endpoint) as proxy:
        service = Service(s3_settings(bucket, proxy.url, nats_url))
        service.subscribe(seen.append)
        await service.start()
        try:
            await publish(nats_url, trades(0, 200))
            await wait_drained(nats_url)
            proxy.set_mode(mode)  # type: ignore[arg-type]
            started = time.monotonic()
            await publish(nats_url, [*trades(200, 200), (SUBJECT, b"not json")])
            await wait_for(lambda: bool(storage_errors(seen)), timeout=15)
            assert time.monotonic() - started < 10, "the outage went unreported"
            await asyncio.sleep(2)  # several failed, nak'd rounds
            proxy.forward()
            await wait_drained(nats_url)
        finally:
            assert await service.stop() == 0
    return seen


@pytest.mark.parametrize("mode", ["refuse", "blackhole"])
async def test_an_outage_mid_stream_loses_nothing_and_ingest_resumes(
    mode: str, s3_bucket: str, s3_endpoint: str, nats_url: str
) -> None:
    seen = await run_through_outage(mode, s3_bucket, s3_endpoint, nats_url)
    errors = storage_errors(seen)
    assert all("\n" not in e.message and len(e.message) < 600 for e in errors)
    assert any("will be redelivered" in e.message for e in errors)
    bronze = read_s3(s3_endpoint, s3_bucket, "bronze/stocks/trades")
    assert set(bronze.column("seq").to_pylist()) == set(range(400))
    quarantine = read_s3(s3_endpoint, s3_bucket, "quarantine")
    assert quarantine.column("raw").to_pylist() == [b"not json"]
    # Compaction makes Silver exact: each published event exactly once.
    storage = Storage(f"s3://{s3_bucket}/lake", s3_options(s3_endpoint))
    result = SilverCompactor(storage).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok"
    silver = read_s3(s3_endpoint, s3_bucket, "silver/stocks/trades")
    assert sorted(silver.column("seq").to_pylist()) == list(range(400))


async def test_start_waits_for_unreachable_storage_and_reports_it(
    s3_bucket: str, s3_endpoint: str, nats_url: str
) -> None:
    seen: list[ev.Event] = []
    with TcpProxy.for_url(s3_endpoint) as proxy:
        proxy.refuse()
        service = Service(s3_settings(s3_bucket, proxy.url, nats_url))
        service.subscribe(seen.append)
        starting = asyncio.ensure_future(service.start())
        try:
            await wait_for(lambda: any(e.where == "storage" for e in storage_errors(seen)))
            assert not starting.done()
            message = next(e.message for e in storage_errors(seen))
            assert "retrying in" in message and "cannot" in message
            proxy.forward()
            await asyncio.wait_for(starting, 30)
            await publish(nats_url, trades(0, 50))
            await wait_drained(nats_url)
        finally:
            if not starting.done():
                starting.cancel()
            await service.stop()
    bronze = read_s3(s3_endpoint, s3_bucket, "bronze/stocks/trades")
    assert set(bronze.column("seq").to_pylist()) == set(range(50))


def headless(bucket: str, endpoint: str, nats_url: str, config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "DATA_ROOT": f"s3://{bucket}/lake", "S3_ENDPOINT": endpoint,
           "S3_ACCESS_KEY": "testing", "S3_SECRET_KEY": "testing", "NATS_URL": nats_url,
           "PYTHONUNBUFFERED": "1"}
    env.pop("LAKECONSOLE_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "lakeconsole", "--headless", "--config", str(config)],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )


async def held(url: str, n: int) -> None:
    """Wait until the service holds `n` delivered, unacked messages in its buffer."""
    deadline = time.monotonic() + 30
    while await consumer_state(url) != (0, n):
        assert time.monotonic() < deadline, await consumer_state(url)
        await asyncio.sleep(0.2)


async def test_sigterm_during_an_outage_exits_cleanly_or_says_why(
    tmp_path: Path, s3_bucket: str, s3_endpoint: str, nats_url: str
) -> None:
    """Storage back within the grace period: exit 0, all written. Not back: exit 1, one
    clear line, no traceback, and the messages are still in NATS for the next start."""
    config = tmp_path / "lake.toml"
    config.write_text("[storage]\ntimeout_s = 1.0\n\n[bronze]\nmax_age_s = 60.0\n\n"
                      "[service]\nstop_grace_s = 6.0\n")
    with TcpProxy.for_url(s3_endpoint) as proxy:
        child = headless(s3_bucket, proxy.url, nats_url, config)
        await publish(nats_url, trades(0, 50))
        await held(nats_url, 50)
        proxy.refuse()
        child.send_signal(signal.SIGTERM)
        await asyncio.sleep(2)
        proxy.forward()  # back within the 6 s grace
        _, err = await asyncio.to_thread(child.communicate, timeout=60)
        assert child.returncode == 0, err
        assert "stopped cleanly" in err and "Traceback" not in err

        config.write_text(config.read_text().replace("stop_grace_s = 6.0", "stop_grace_s = 2.0"))
        child = headless(s3_bucket, proxy.url, nats_url, config)
        await publish(nats_url, trades(50, 30))
        await held(nats_url, 30)
        proxy.refuse()
        child.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(child.communicate, timeout=60)
        assert child.returncode == 1, err
        assert "stopped with 30 messages not written" in err and "Traceback" not in err
        assert sum(await consumer_state(nats_url)) == 30  # not acked: still NATS's to deliver

        proxy.forward()
        config.write_text(config.read_text().replace("max_age_s = 60.0", "max_age_s = 0.3"))
        child = headless(s3_bucket, proxy.url, nats_url, config)
        try:
            await wait_drained(nats_url)
        finally:
            child.send_signal(signal.SIGTERM)
            await asyncio.to_thread(child.communicate, timeout=60)
    assert child.returncode == 0
    bronze = read_s3(s3_endpoint, s3_bucket, "bronze/stocks/trades")
    assert set(bronze.column("seq").to_pylist()) == set(range(80))
