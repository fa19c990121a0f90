"""A flush that fails with an exception nobody expected still naks and frees its credit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lakeconsole import events as ev
from lakeconsole.ingest.bus import NATSBus
from lakeconsole.ingest.stream_writers import BronzeWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.service import Service
from tests.ingest.helpers import BASE_NS, encode, publish, read_tier, settings_for, trade, wait_for

pytestmark = pytest.mark.timeout(60)


class FlakyStorage(Storage):
    """A storage double whose first writes raise an exception type Storage never wraps."""

    def __init__(self, root: str, failures: int) -> None:
        super().__init__(root)
        self.failures = failures

    def write_atomic(self, relpath: str, data: bytes) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise KeyError("an unexpected bug in a third-party library")
        super().write_atomic(relpath, data)


async def test_unexpected_flush_failure_naks_frees_credit_and_recovers(
    tmp_path: Path, nats_url: str
) -> None:
    settings = settings_for(tmp_path / "lake", nats_url, **{
        "bronze.max_age_s": 0.2, "nats.nak_delay_s": 0.3, "nats.max_ack_pending": 100,
    })
    storage = FlakyStorage(str(tmp_path / "lake"), failures=2)
    seen: list[ev.Event] = []
    writer = BronzeWriter(storage, settings, seen.append)
    bus = NATSBus()
    await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                             for i in range(100)])
    await bus.connect(nats_url)
    try:
        await writer.start(bus)
        consumer = writer.consumer
        assert consumer is not None
        await wait_for(lambda: any(isinstance(e, ev.ErrorRaised) for e in seen))
        error = next(e for e in seen if isinstance(e, ev.ErrorRaised))
        assert "KeyError" in error.message and "will be redelivered" in error.message
        await wait_for(lambda: read_tier(tmp_path / "lake", "bronze/stocks/trades").num_rows
                       == 100)
        await asyncio.sleep(0.3)
        # Credit never leaks: all 100 were delivered (some twice or more), none still held.
        assert consumer.in_hand == 0 and consumer.bytes_in_hand == 0
        assert consumer.stats["delivered"] > 100
    finally:
        assert await writer.stop() == 0
        await bus.close()
    seqs = read_tier(tmp_path / "lake", "bronze/stocks/trades").column("seq").to_pylist()
    assert sorted(seqs) == list(range(100))


async def test_a_background_task_that_died_is_reported_at_stop(
    tmp_path: Path, nats_url: str
) -> None:
    """A service task that failed unobserved is logged and shown, not swallowed, at stop."""
    service = Service(settings_for(tmp_path / "lake", nats_url))
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    await service.start()

    async def broken() -> None:
        raise RuntimeError("the lag poller's bug")

    service._tasks.append(asyncio.get_running_loop().create_task(broken(), name="lag poll"))
    await asyncio.sleep(0)
    assert await service.stop() == 0
    errors = [e for e in seen if isinstance(e, ev.ErrorRaised)]
    assert [(e.where, e.message) for e in errors] == [
        ("lag poll", "RuntimeError: the lag poller's bug")]
