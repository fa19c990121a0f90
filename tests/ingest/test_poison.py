"""Poison messages end in quarantine with their reason; none loops, floods the log or blocks.

Each test publishes good events around the poison to a real nats-server and runs the real
Service. The end state is checked message by message: every stream sequence is either in
Bronze or in quarantine, the consumer has nothing pending or unacked, and the log stays small.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import nats
import pyarrow as pa
import pytest

from lakeconsole import events as ev
from lakeconsole.service import Service
from tests.ingest.helpers import BASE_NS, encode, publish, read_tier, settings_for, trade

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
SUBJECT = "market.stocks.trades"


async def consumer_state(url: str, durable: str = "lake-bronze") -> dict[str, int]:
    """Pending, unacked and redelivered counts of the durable consumer."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info("MARKET", durable)
    finally:
        await nc.close()
    return {"pending": info.num_pending or 0, "ack_pending": info.num_ack_pending or 0,
            "redelivered": info.num_redelivered or 0}


async def drained(url: str) -> bool:
    state = await consumer_state(url)
    return state["pending"] == 0 and state["ack_pending"] == 0


def stream_seqs(table: pa.Table, column: str) -> list[int]:
    return sorted(table.column(column).to_pylist()) if table.num_rows else []


async def ingest(
    tmp_path: Path, url: str, messages: list[bytes], caplog: pytest.LogCaptureFixture,
    **overrides: Any,
) -> tuple[pa.Table, pa.Table, list[ev.Event]]:
    """Publish, run the Service until the consumer is drained, return Bronze and quarantine."""
    await publish(url, [(SUBJECT, m) for m in messages])
    settings = settings_for(tmp_path / "lake", url, **{"bronze.max_age_s": 0.3, **overrides})
    service = Service(settings)
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    caplog.set_level(logging.INFO)
    await service.start()
    try:
        deadline = time.monotonic() + 60
        while not await drained(url):
            assert time.monotonic() < deadline, await consumer_state(url)
            await asyncio.sleep(0.1)
    finally:
        assert await service.stop() == 0
    lake = tmp_path / "lake"
    return read_tier(lake, "bronze/stocks/trades"), read_tier(lake, "quarantine"), seen


def good(n: int, start: int = 0) -> list[bytes]:
    return [encode(trade(start + i, BASE_NS + i * 1_000_000)) for i in range(n)]


def log_bytes(caplog: pytest.LogCaptureFixture) -> int:
    return sum(len(r.getMessage()) for r in caplog.records)


async def test_an_overlong_symbol_is_quarantined_and_the_rest_written(tmp_path, nats_url, caplog):
    poison = encode(trade(10_000, BASE_NS, symbol="X" * 5_000))
    messages = [*good(600), poison, *good(600, start=600)]
    bronze, quarantine, _ = await ingest(tmp_path, nats_url, messages, caplog)
    # Published in order: stream sequence = position + 1; the poison is number 601.
    assert stream_seqs(quarantine, "stream_seq") == [601]
    reason = quarantine.column("reason")[0].as_py()
    assert "directory name" in reason and "limit 255" in reason
    assert quarantine.column("raw")[0].as_py() == poison
    assert sorted(bronze.column("seq").to_pylist()) == list(range(1200))  # each exactly once
    assert (await consumer_state(nats_url))["redelivered"] == 0
    assert log_bytes(caplog) < 20_000  # the 5,000-character value is never logged in full
    assert "X" * 300 not in caplog.text


async def test_invalid_utf8_in_a_single_event_is_quarantined_without_duplicates(
    tmp_path, nats_url, caplog
):
    poison = encode(trade(10_000, BASE_NS, symbol="ZZZZ")).replace(b"ZZZZ", b"\xff\xfeAB")
    other = [encode(trade(i, BASE_NS + i, symbol=s)) for i, s in enumerate(["QQQ", "IWM", "DIA"])]
    messages = [*other, poison, *good(300, start=10)]
    bronze, quarantine, _ = await ingest(tmp_path, nats_url, messages, caplog)
    assert stream_seqs(quarantine, "stream_seq") == [4]
    assert "UTF-8" in quarantine.column("reason")[0].as_py()
    # No partition was written twice: Bronze holds each good event exactly once.
    assert sorted(bronze.column("seq").to_pylist()) == [0, 1, 2, *range(10, 310)]


async def test_hostile_batches_are_quarantined_by_element_or_whole(tmp_path, nats_url, caplog):
    bad_utf8 = b"[" + encode(trade(1, BASE_NS)).replace(b"SPY", b"\xc3\x28") + b"]"
    deep = b"[" * 100_000 + b"]" * 100_000
    surrogate = encode([trade(2, BASE_NS)]).replace(b"SPY", b"\\ud800")
    mixed = encode([trade(3, BASE_NS), {"symbol": "SPY"}, trade(4, BASE_NS + 1)])
    messages = [bad_utf8, deep, surrogate, mixed, b"[]", *good(100, start=100)]
    bronze, quarantine, _ = await ingest(tmp_path, nats_url, messages, caplog)
    reasons = dict(zip(quarantine.column("stream_seq").to_pylist(),
                       quarantine.column("reason").to_pylist(), strict=True))
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "UTF-8" in reasons[1]
    assert "RecursionError" in reasons[2] or "depth" in reasons[2]
    assert "surrogate" in reasons[3]
    assert reasons[4].startswith("element 1:")
    assert reasons[5] == "the message holds no events"  # acked, and on record
    assert sorted(bronze.column("seq").to_pylist()) == [3, 4, *range(100, 200)]
    assert (await consumer_state(nats_url))["redelivered"] == 0
    assert log_bytes(caplog) < 20_000


async def test_event_times_outside_the_accepted_range_are_quarantined(tmp_path, nats_url, caplog):
    far = 9_223_300_000 * 10**9  # 2262-04-11: beyond the default 2200-01-01 limit
    late_ok = 7_258_000_000 * 10**9  # 2199-12-30: inside
    messages = [encode(trade(1, far)), encode(trade(2, late_ok)), *good(10, start=10),
                encode([trade(3, BASE_NS), trade(4, far)])]
    bronze, quarantine, _ = await ingest(tmp_path, nats_url, messages, caplog)
    assert sorted(quarantine.column("stream_seq").to_pylist()) == [1, 13]
    assert all("outside the accepted range" in r for r in quarantine.column("reason").to_pylist())
    assert sorted(bronze.column("seq").to_pylist()) == [2, 3, *range(10, 20)]


async def test_a_partition_that_cannot_be_written_is_isolated_then_quarantined(
    tmp_path, nats_url, caplog
):
    """A write that keeps failing for one symbol: the others are written at once; after
    nats.max_deliver deliveries the stuck messages go to quarantine with the last error."""
    lake = tmp_path / "lake"
    blocker = lake / "bronze/stocks/trades/symbol=BAD"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where a directory should be")
    messages = []
    for i in range(200):
        messages.append(encode(trade(i, BASE_NS + i, symbol="BAD" if i % 50 == 0 else "SPY")))
    bronze, quarantine, seen = await ingest(
        tmp_path, nats_url, messages, caplog,
        **{"nats.max_deliver": 3, "nats.nak_delay_s": 0.2},
    )
    stuck = [i + 1 for i in range(200) if i % 50 == 0]
    assert stream_seqs(quarantine, "stream_seq") == stuck
    assert all(r.startswith("not written after 3 deliveries: ")
               for r in quarantine.column("reason").to_pylist())
    spy = sorted(s for s in bronze.column("seq").to_pylist())
    assert spy == [i for i in range(200) if i % 50]  # each good event once
    errors = [e for e in seen if isinstance(e, ev.ErrorRaised) and e.where.startswith("flush")]
    assert errors and all("\n" not in e.message for e in errors)
