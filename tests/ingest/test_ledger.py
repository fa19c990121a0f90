"""The completeness ledger against a real nats-server: real losses recorded, no false gaps."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import nats
import pytest

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.ingest.completeness import audit_stream
from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import intervals, received
from lakeconsole.ledger.losses import read_losses
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
from tests.ingest.processes import lakeconsole, wait_for_line

pytestmark = pytest.mark.timeout(120)
TRADES = "market.stocks.trades"
FAST = {"bronze.max_age_s": 0.2, "gold.max_age_s": 0.2}


async def _create_market(url: str, max_msgs: int = -1) -> None:
    """The MARKET stream, made by its owner (the service never changes an existing one)."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name="MARKET", subjects=["market.>"], max_msgs=max_msgs)
    finally:
        await nc.close()


async def _trades(url: str, first: int, n: int) -> None:
    await publish(url, [(TRADES, encode(trade(i, BASE_NS + i))) for i in range(first, first + n)])


def _covered(storage: Storage) -> list[tuple[int, int]]:
    return intervals.union((s.first_seq, s.last_seq)
                           for s in received.read_received(storage, "MARKET"))


async def _settle(service: Service, settings: Settings, seq: int) -> None:
    """Wait until the durable's ack floor reached `seq` (every message up to it is done)."""
    durable = settings.nats.bronze_consumer
    deadline = time.monotonic() + 60
    while (await service.bus.consumer_lag("MARKET", durable))["ack_floor_seq"] < seq:
        assert time.monotonic() < deadline, "ack floor never reached"
        await asyncio.sleep(0.1)


async def _audit(service: Service, settings: Settings, seen: list[ev.Event]) -> None:
    result = await audit_stream(service.bus, service.storage, "MARKET",
                                settings.nats.bronze_consumer, seen.append)
    assert result is not None


async def _run(settings: Settings, seen: list[ev.Event], seq: int) -> Service:
    service = Service(settings)
    service.subscribe(seen.append)
    await service.start()
    await _settle(service, settings, seq)
    return service


def _losses(seen: list[ev.Event]) -> list[ev.UpstreamLoss]:
    return [e for e in seen if isinstance(e, ev.UpstreamLoss)]


async def test_messages_discarded_while_stopped_are_an_exact_loss(
    tmp_path: Path, nats_url: str
) -> None:
    settings = settings_for(tmp_path / "lake", nats_url, **FAST)
    await _create_market(nats_url, max_msgs=100)
    await _trades(nats_url, 0, 50)  # seqs 1..50
    seen: list[ev.Event] = []
    await (await _run(settings, seen, 50)).stop()
    await _trades(nats_url, 50, 200)  # seqs 51..250: the stream keeps 151..250 only
    service = await _run(settings, seen, 250)
    try:
        assert [(e.stream, e.first_seq, e.last_seq, e.count) for e in _losses(seen)] == [
            ("MARKET", 51, 150, 100)]
        assert "first_seq now 151" in _losses(seen)[0].cause
        errors = [e for e in seen if isinstance(e, ev.ErrorRaised)]
        assert any("51..150" in e.message for e in errors)
        await _audit(service, settings, seen)  # judged again: recorded once, reported once
    finally:
        await service.stop()
    storage = Storage(str(tmp_path / "lake"))
    [loss] = read_losses(storage)
    assert (loss.stream, loss.first_seq, loss.last_seq, loss.count) == ("MARKET", 51, 150, 100)
    assert loss.ts_before_ns is not None and loss.ts_after_ns is not None
    assert loss.ts_before_ns < loss.ts_after_ns
    assert _covered(storage) == [(1, 50), (151, 250)]
    assert len(_losses(seen)) == 1
    assert read_tier(tmp_path / "lake", "bronze/stocks/trades").num_rows == 150


async def test_a_message_deleted_from_the_middle_is_skipped_not_discarded(
    tmp_path: Path, nats_url: str
) -> None:
    settings = settings_for(tmp_path / "lake", nats_url, **FAST)
    await _create_market(nats_url)
    await _trades(nats_url, 0, 10)
    seen: list[ev.Event] = []
    await (await _run(settings, seen, 10)).stop()
    await _trades(nats_url, 10, 10)  # 11..20
    nc = await nats.connect(nats_url)
    await nc.jetstream().delete_msg("MARKET", 15)
    await nc.close()
    service = await _run(settings, seen, 20)
    try:
        await _audit(service, settings, seen)
    finally:
        await service.stop()
    assert [(e.first_seq, e.last_seq, e.cause) for e in _losses(seen)] == [
        (15, 15, "skipped by the consumer")]


async def test_restarts_without_discards_leave_no_gap(tmp_path: Path, nats_url: str) -> None:
    settings = settings_for(tmp_path / "lake", nats_url, **FAST)
    await _create_market(nats_url)
    seen: list[ev.Event] = []
    for round_ in range(3):
        await _trades(nats_url, 100 * round_, 100)
        service = await _run(settings, seen, 100 * (round_ + 1))
        await _audit(service, settings, seen)
        await service.stop()
    assert _losses(seen) == [] and read_losses(Storage(str(tmp_path / "lake"))) == []
    assert _covered(Storage(str(tmp_path / "lake"))) == [(1, 300)]


class LedgerFailsOnce(Storage):
    """A lake whose first ledger write fails: the flush must nak, and nothing be acked."""

    failed = 0

    def write_atomic(self, relpath: str, data: bytes) -> None:
        if relpath.startswith("_ledger/received/") and not self.failed:
            self.failed += 1
            raise OSError("disk full (injected)")
        super().write_atomic(relpath, data)


class SlowFirstWrite(Storage):
    """A lake whose first data write outlasts ack_wait: NATS redelivers meanwhile."""

    slept = 0

    def write_atomic(self, relpath: str, data: bytes) -> None:
        if relpath.startswith("bronze/") and not self.slept:
            self.slept += 1
            time.sleep(2.5)
        super().write_atomic(relpath, data)


@pytest.mark.slow
@pytest.mark.parametrize("lake", [LedgerFailsOnce, SlowFirstWrite])
async def test_redelivery_leaves_no_gap(
    tmp_path: Path, nats_url: str, lake: type[Storage]
) -> None:
    settings = settings_for(tmp_path / "lake", nats_url, **FAST, **{
        "nats.nak_delay_s": 0.2, "nats.ack_wait_s": 1.0})
    await _create_market(nats_url)
    await _trades(nats_url, 0, 300)
    seen: list[ev.Event] = []
    service = Service(settings)
    service.storage = lake(str(tmp_path / "lake"))
    for writer in service.writers:
        writer.storage = writer.writer.storage = service.storage
    service.subscribe(seen.append)
    await service.start()
    try:
        await _settle(service, settings, 300)
        await _audit(service, settings, seen)
        consumer = service.writers[0].consumer
        assert consumer is not None
        delivered = consumer.stats["delivered"]
    finally:
        await service.stop()
    assert delivered > 300  # some messages really came twice
    assert _losses(seen) == []
    assert _covered(Storage(str(tmp_path / "lake"))) == [(1, 300)]
    seqs = read_tier(tmp_path / "lake", "bronze/stocks/trades").column("seq").to_pylist()
    assert set(seqs) == set(range(300))


async def test_two_instances_on_one_durable_leave_no_gap(tmp_path: Path, nats_url: str) -> None:
    n = 3000
    settings = settings_for(tmp_path / "lake", nats_url, **FAST, **{
        "bronze.max_events": 100, "nats.max_ack_pending": 200})
    await _create_market(nats_url)
    seen: list[ev.Event] = []
    services = [Service(settings), Service(settings)]
    for service in services:
        service.subscribe(seen.append)
        await service.start()
    try:
        await _trades(nats_url, 0, n)
        await _settle(services[0], settings, n)
        for service in services:
            await _audit(service, settings, seen)
        delivered = [s.writers[0].consumer.stats["delivered"]  # type: ignore[union-attr]
                     for s in services]
    finally:
        for service in services:
            await service.stop()
    assert all(d > 0 for d in delivered), delivered  # both instances really shared the work
    assert _losses(seen) == [] and read_losses(Storage(str(tmp_path / "lake"))) == []
    assert _covered(Storage(str(tmp_path / "lake"))) == [(1, n)]


async def test_quarantined_messages_are_received_too(tmp_path: Path, nats_url: str) -> None:
    settings = settings_for(tmp_path / "lake", nats_url, **FAST)
    await _create_market(nats_url)
    await _trades(nats_url, 0, 5)  # 1..5
    await publish(nats_url, [(TRADES, b"not json"), ("market.nowhere", encode({"a": 1}))])
    await _trades(nats_url, 5, 5)  # 8..12
    seen: list[ev.Event] = []
    service = await _run(settings, seen, 12)
    try:
        await _audit(service, settings, seen)
    finally:
        await service.stop()
    storage = Storage(str(tmp_path / "lake"))
    assert _losses(seen) == [] and _covered(storage) == [(1, 12)]
    spans = received.read_received(storage, "MARKET")
    assert [(s.first_seq, s.last_seq) for s in spans if s.tier == "quarantine"] == [(6, 7)]
    assert all(s.first_ts_ns and s.last_ts_ns for s in spans)  # NATS times of the run ends


async def test_a_filter_that_misses_stream_subjects_is_not_judged(
    tmp_path: Path, nats_url: str
) -> None:
    """A stream wider than the consumer's filter would show false gaps: it is refused, once."""
    nc = await nats.connect(nats_url)
    await nc.jetstream().add_stream(name="MARKET", subjects=["market.>", "other.>"])
    await nc.close()
    settings = settings_for(tmp_path / "lake", nats_url, **FAST)
    await publish(nats_url, [("other.x", b"{}")] + [
        (TRADES, encode(trade(i, BASE_NS + i))) for i in range(3)])
    seen: list[ev.Event] = []
    service = Service(settings)
    service.subscribe(seen.append)
    await service.start()
    try:
        await _settle(service, settings, 4)
        for _ in range(2):
            result = await audit_stream(service.bus, service.storage, "MARKET",
                                        settings.nats.bronze_consumer, seen.append)
            assert result is None
    finally:
        await service.stop()
    refusals = [e for e in seen if isinstance(e, ev.ErrorRaised) and "do not cover" in e.message]
    assert len(refusals) == 1 and _losses(seen) == []


@pytest.mark.slow
async def test_headless_logs_the_loss_of_a_discard_while_stopped(
    tmp_path: Path, nats_url: str
) -> None:
    """Two headless runs around a discard: the second logs the exact range, once."""
    root, log = tmp_path / "lake", tmp_path / "headless.log"
    config = tmp_path / "lake.toml"
    config.write_text("[bronze]\nmax_age_s = 0.2\n")
    await _create_market(nats_url, max_msgs=100)
    await _trades(nats_url, 0, 50)
    for round_ in range(2):
        child = lakeconsole(root, log, "--headless", "--config", str(config), nats_url=nats_url)
        try:
            await wait_for_line(log, "Bronze writer started", child, timeout=60)
            rows = 50 + 100 * round_
            await wait_for(lambda: read_tier(root, "bronze/stocks/trades").num_rows == rows,  # noqa: B023
                           timeout=60)
            if round_:
                text = await wait_for_line(log, "upstream loss: MARKET sequences 51..150 "
                                           "(100 messages)", child, timeout=60)
        finally:
            child.send_signal(signal.SIGTERM)
            await asyncio.to_thread(child.wait, 60)
        if not round_:
            await _trades(nats_url, 50, 200)  # 51..250 while stopped: 151..250 kept
    assert text.count("upstream loss") == 1 and "first_seq now 151" in text
    [loss] = read_losses(Storage(str(root)))
    assert (loss.first_seq, loss.last_seq, loss.count) == (51, 150, 100)
