"""`lakeconsole --headless` for operators: metrics over HTTP, JSON logs, each event logged
once, backoff while NATS is away, and --log-level."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import pytest

from lakeconsole.ingest.embedded import EmbeddedNATS
from tests.conftest import free_port
from tests.ingest.helpers import BASE_NS, encode, publish, trade
from tests.ingest.processes import lakeconsole, wait_for_line
from tests.ops.scrape import ready, samples, value
from tests.ops.test_endpoints import poll

pytestmark = pytest.mark.slow


async def stop(child: subprocess.Popen[bytes], log: Path) -> str:
    """SIGTERM the child, wait for a clean exit, return its log."""
    child.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(child.wait, 30) == 0, log.read_text()
    return log.read_text()


async def test_headless_serves_metrics_and_logs_json(tmp_path: Path, nats_url: str) -> None:
    root, log, port = tmp_path / "lake", tmp_path / "err.log", free_port()
    base = f"http://127.0.0.1:{port}"
    child = lakeconsole(root, log, "--headless", "--log-format", "json",
                        "--metrics-addr", f"127.0.0.1:{port}", nats_url=nats_url)
    try:
        await wait_for_line(log, "Gold writer started", child)
        await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                                 for i in range(250)] + [("market.stocks.trades", b"oops")])
        await poll(lambda: value(samples(base), "lakeconsole_events_written_total",
                                 dataset="stocks.trades") == 250, "250 rows written")
        s = await asyncio.to_thread(samples, base)
        assert value(s, "lakeconsole_events_received_total", dataset="stocks.trades") == 250
        assert value(s, "lakeconsole_quarantined_total", dataset="stocks.trades",
                     reason="not_json") == 1
        assert await asyncio.to_thread(ready, base) == (200, {"ready": True, "problems": []})
    finally:
        text = await stop(child, log)
    records = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert records[0]["msg"].startswith("=" * 64) and records[0]["banner"] is True
    flushes = [r for r in records if r["msg"].startswith("flushed stocks.trades")]
    assert flushes and sum(r["rows"] for r in flushes) == 250
    assert all(r["dataset"] == "stocks.trades" and r["partition"] == "SPY"
               and r["bytes"] > 0 and r["ms"] >= 0 for r in flushes)
    # Each event once: one "connected" line, not the bus's and the service's.
    connected = [r for r in records if "connected" in r["msg"].lower()
                 and "disconnected" not in r["msg"].lower()]
    assert [r["msg"] for r in connected] == [f"NATS connected: {nats_url}"]
    assert sum("quarantined 1 from market.stocks.trades" in r["msg"] for r in records) == 1


async def test_an_unreachable_nats_is_one_line_and_backs_off(tmp_path: Path) -> None:
    """~6 s without a server: one state-change line (not ~12), 503 on /readyz; then one
    "connected" line when it appears."""
    nats_port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{metrics_port}"
    log = tmp_path / "err.log"
    child = lakeconsole(tmp_path / "lake", log, "--headless",
                        "--metrics-addr", f"127.0.0.1:{metrics_port}",
                        nats_url=f"nats://127.0.0.1:{nats_port}")
    server = EmbeddedNATS(tmp_path / "nats", port=nats_port)
    try:
        await wait_for_line(log, "retrying with backoff up to 30 s", child)
        await asyncio.sleep(6)
        status, body = await asyncio.to_thread(ready, base)
        assert status == 503 and "NATS not connected" in body["problems"]
        await asyncio.to_thread(server.start)
        await wait_for_line(log, "Gold writer started", child, timeout=60)
    finally:
        text = await stop(child, log)
        server.stop()
    lines = text.splitlines()
    unreachable = [line for line in lines if "NATS disconnected" in line]
    assert len(unreachable) == 1, text
    assert "WARNING lakeconsole: NATS disconnected: unreachable at nats://127.0.0.1:" in (
        unreachable[0])
    assert sum("NATS connected" in line for line in lines) == 1, text


async def test_log_level_warning_hides_info_lines(tmp_path: Path) -> None:
    log = tmp_path / "err.log"
    child = lakeconsole(tmp_path / "lake", log, "--headless", "--log-level", "warning",
                        "--metrics-addr", "off", nats_url=f"nats://127.0.0.1:{free_port()}")
    await wait_for_line(log, "unreachable", child)
    text = await stop(child, log)
    assert "LAKE SERVICE" in text and " WARNING " in text
    assert " INFO " not in text and "stopped cleanly" not in text
