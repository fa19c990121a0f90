"""/metrics, /healthz and /readyz of a Service with a real nats-server, scraped over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lakeconsole.errors import ConfigError
from lakeconsole.ingest.embedded import EmbeddedNATS
from lakeconsole.ops.http import OpsServer
from lakeconsole.ops.serve import serve_configured, serve_ops
from lakeconsole.service import Service
from tests.conftest import free_port
from tests.ingest.helpers import BASE_NS, encode, publish, settings_for, trade
from tests.ops.scrape import get, ready, samples, value

SUBJECT = "market.stocks.trades"
FAST = {"bronze.max_age_s": 0.3}


async def poll(check, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Poll `check()` (blocking: run on a thread) until true or fail naming `what`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, f"{what} not seen in {timeout} s"
        await asyncio.sleep(0.2)


async def running(service: Service, flush_failing_s: float = 60.0) -> OpsServer:
    ops = serve_ops(service, "127.0.0.1", 0, flush_failing_s)
    await service.start()
    return ops


@contextlib.asynccontextmanager
async def served(root: Path, nats_url: str) -> AsyncIterator[str]:
    """A started Service on `root` with its ops server; yields the server's base URL."""
    service = Service(settings_for(root, nats_url, **FAST))
    ops = await running(service)
    try:
        yield ops.url
    finally:
        await service.stop()
        ops.stop()


async def test_metrics_count_what_was_published_per_dataset(
    tmp_path: Path, nats_url: str
) -> None:
    async with served(tmp_path / "lake", nats_url) as base:
        await publish_and_scrape(base, nats_url)


async def publish_and_scrape(base: str, nats_url: str) -> None:
    good = [(SUBJECT, encode(trade(i, BASE_NS + i * 1000, "SPY" if i % 2 else "QQQ")))
            for i in range(300)]
    quotes = [("market.stocks.quotes", encode({
        "ts_event_ns": BASE_NS + i, "symbol": "SPY", "bid_px": 1.0, "ask_px": 1.1,
        "bid_sz": 1, "ask_sz": 1, "bid_exch": 1, "ask_exch": 1, "seq": i})) for i in range(40)]
    bad = [(SUBJECT, b"not json"), (SUBJECT, b"neither"), ("market.stocks.nope", b"{}")]
    await publish(nats_url, good + quotes + bad)

    def written() -> bool:
        s = samples(base)
        return (value(s, "lakeconsole_events_written_total", dataset="stocks.trades") == 300
                and value(s, "lakeconsole_events_written_total", dataset="stocks.quotes") == 40
                and value(s, "lakeconsole_stream_messages", stream="MARKET") is not None
                and value(s, "lakeconsole_consumer_pending_messages",
                          consumer="lake-bronze") == 0)

    await poll(written, "every event written and the stream and consumer polled")
    s = samples(base)
    assert value(s, "lakeconsole_events_received_total", dataset="stocks.trades") == 300
    assert value(s, "lakeconsole_events_received_total", dataset="stocks.quotes") == 40
    assert value(s, "lakeconsole_flush_seconds_count", dataset="stocks.trades") >= 1  # type: ignore[operator]
    assert value(s, "lakeconsole_flushes_total", dataset="stocks.trades") >= 1  # type: ignore[operator]
    assert value(s, "lakeconsole_files_written_total", dataset="stocks.trades") >= 2  # type: ignore[operator]
    assert value(s, "lakeconsole_bytes_written_total", dataset="stocks.trades") > 1000  # type: ignore[operator]
    assert value(s, "lakeconsole_quarantined_total", dataset="stocks.trades",
                 reason="not_json") == 2
    assert value(s, "lakeconsole_quarantined_total", dataset="unknown",
                 reason="unknown_subject") == 1
    assert value(s, "lakeconsole_stream_messages", stream="MARKET") == 343
    assert value(s, "lakeconsole_stream_last_seq", stream="MARKET") == 343
    assert value(s, "lakeconsole_consumer_ack_floor_seq", consumer="lake-bronze") == 343
    assert value(s, "lakeconsole_nats_connected") == 1
    assert value(s, "lakeconsole_buffered_events", dataset="stocks.trades") == 0
    assert get(f"{base}/healthz")[0] == 200
    assert ready(base) == (200, {"ready": True, "problems": []})
    assert get(f"{base}/nope")[0] == 404


async def test_readyz_is_503_while_nats_is_down_and_200_once_back(tmp_path: Path) -> None:
    port = free_port()
    service = Service(settings_for(tmp_path / "lake", f"nats://127.0.0.1:{port}"))
    ops = serve_ops(service, "127.0.0.1", 0, 60.0)
    starting = asyncio.ensure_future(service.start())
    server = EmbeddedNATS(tmp_path / "nats", port=port)
    try:
        await asyncio.sleep(1.0)
        status, body = await asyncio.to_thread(ready, ops.url)
        assert status == 503 and "NATS not connected" in body["problems"]
        assert (await asyncio.to_thread(get, f"{ops.url}/healthz"))[0] == 200
        await asyncio.to_thread(server.start)
        await asyncio.wait_for(starting, 60)
        await poll(lambda: ready(ops.url)[0] == 200, "ready once NATS is up")
        await asyncio.to_thread(server.stop)  # killed under a running service
        await poll(lambda: ready(ops.url) == (503, {"ready": False,
                                                    "problems": ["NATS not connected"]}),
                   "not ready once NATS is gone")
        assert value(await asyncio.to_thread(samples, ops.url), "lakeconsole_nats_connected") == 0
    finally:
        if not starting.done():
            starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await service.stop()
        ops.stop()
        server.stop()


async def test_readyz_is_503_while_storage_fails_to_write(tmp_path: Path, nats_url: str) -> None:
    root = tmp_path / "lake"
    service = Service(settings_for(root, nats_url, **FAST))
    ops = await running(service, flush_failing_s=1.0)
    try:
        (root / "bronze").write_text("a file where the Bronze directory belongs")
        await publish(nats_url, [(SUBJECT, encode(trade(i, BASE_NS + i))) for i in range(20)])

        def storage_not_ready() -> bool:
            status, body = ready(ops.url)
            return status == 503 and any(
                p.startswith("storage: flush stocks.trades failing") for p in body["problems"])

        await poll(storage_not_ready, "503 naming the failing flush")
        s = await asyncio.to_thread(samples, ops.url)
        assert value(s, "lakeconsole_storage_errors_total", where="flush stocks.trades") >= 1  # type: ignore[operator]
        (root / "bronze").unlink()  # storage writable again: the redelivered rows land
        await poll(lambda: ready(ops.url)[0] == 200, "ready again after a good flush")
        s = await asyncio.to_thread(samples, ops.url)
        assert value(s, "lakeconsole_events_written_total", dataset="stocks.trades") == 20
    finally:
        await service.stop()
        ops.stop()


def test_a_taken_default_port_is_a_warning_an_explicit_one_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        where = f"127.0.0.1:{taken.getsockname()[1]}"
        service = Service(settings_for(tmp_path / "lake", "nats://127.0.0.1:1"))
        assert serve_configured(service, service.settings, where) is None
        assert "metrics not served: cannot listen on" in caplog.text
        assert serve_configured(service, service.settings, "off") is None  # the console
        explicit = Service(settings_for(tmp_path / "lake", "nats://127.0.0.1:1",
                                        **{"metrics.addr": where}))
        with pytest.raises(ConfigError, match=r"--metrics-addr: cannot serve on 127\.0\.0\.1"):
            serve_configured(explicit, explicit.settings, "off")
