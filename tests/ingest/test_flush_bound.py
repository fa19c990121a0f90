"""Draining a backlog of batch messages never holds more decoded rows than the bound.

A backlog far larger than `ingest.max_flush_rows` is preloaded on a real nats-server; the
Service writes it in flushes of at most that many rows, and its own high-water mark of rows
held decoded (flushing, or decoded on arrival) stays within the bound (plus what arrived
decoded, which the message credit bounds). Every event lands in
Bronze exactly once and every message is acked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lakeconsole import events as ev
from lakeconsole.service import Service
from tests.ingest.helpers import BASE_NS, encode, publish, read_tier, settings_for, trade
from tests.ingest.test_poison import drained

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
SUBJECT = "market.stocks.trades"
BOUND = 2_000


async def test_a_backlog_is_written_in_bounded_flushes(tmp_path: Path, nats_url: str) -> None:
    batches = [[trade(m * 100 + i, BASE_NS + m * 100 + i) for i in range(100)]
               for m in range(150)]
    pretty = [trade(20_000 + i, BASE_NS) for i in range(50)]  # decoded on arrival
    messages = [encode(b) for b in batches] + [encode(pretty).replace(b"},{", b"},\n{")]
    await publish(nats_url, [(SUBJECT, m) for m in messages])
    settings = settings_for(tmp_path / "lake", nats_url, **{
        "ingest.max_flush_rows": BOUND, "bronze.max_age_s": 0.3,
    })
    service = Service(settings)
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    await service.start()
    try:
        for _ in range(600):
            if await drained(nats_url):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the backlog was not drained in time")
    finally:
        await service.stop()
    bronze = read_tier(tmp_path / "lake", "bronze/stocks/trades")
    assert sorted(bronze.column("seq").to_pylist()) == [
        *range(15_000), *range(20_000, 20_050)
    ]
    writer = service.writers[0]
    # Flushes hold at most BOUND; the one message that is not a compact batch was decoded
    # on arrival and may be held next to a running flush.
    assert BOUND // 2 <= writer.decoded_rows_peak <= BOUND + len(pretty)
    flushes: dict[int, int] = {}
    for e in seen:
        if isinstance(e, ev.Flushed) and e.dataset == "stocks.trades":
            flushes[e.flush] = flushes.get(e.flush, 0) + e.rows
    assert len(flushes) >= 15_050 // BOUND
    assert max(flushes.values()) <= BOUND
