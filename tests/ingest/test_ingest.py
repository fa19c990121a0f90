"""Ingest end to end against a real nats-server: Bronze, Gold, quarantine, flush timing."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakeconsole import events as ev
from lakeconsole.query.readers import BronzeReader
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

pytestmark = pytest.mark.timeout(90)
HOUR = 3_600_000_000_000


async def run_service(settings, until) -> tuple[Service, list[ev.Event]]:
    """Start a Service, wait for `until(events)`, stop it (flush + ack)."""
    service = Service(settings)
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    await service.start()
    try:
        await wait_for(lambda: until(seen))
    finally:
        await service.stop()
    return service, seen


def arrived(n: int):
    """Condition: n events were received (good) or quarantined (bad)."""

    def check(events: list[ev.Event]) -> bool:
        good = sum(sum(e.counts.values()) for e in events if isinstance(e, ev.Received))
        bad = sum(e.count for e in events if isinstance(e, ev.Quarantined))
        return good + bad >= n

    return check


def buffered(service: Service) -> dict[str, int]:
    """Events waiting per dataset, over both writers."""
    return {name: n for w in service.writers for name, n in w.buffered().items()}


def flushed_rows(events: list[ev.Event], dataset: str | None = None) -> int:
    return sum(e.rows for e in events
               if isinstance(e, ev.Flushed) and (dataset is None or e.dataset == dataset))


async def test_every_event_lands_in_bronze_partitioned_by_utc_hour(tmp_path: Path, nats_url):
    """Out-of-order events across midnight land in the right (symbol, date, hour) files."""
    offsets = [5 * HOUR, -1, 0, 3 * HOUR + 7, -HOUR - 5, 1]  # around 2026-01-01T00:00Z
    events = [trade(i, BASE_NS + off, "SPY" if i % 2 else "QQQ") for i, off in enumerate(offsets)]
    await publish(nats_url, [("market.stocks.trades", encode(e)) for e in events])
    settings = settings_for(tmp_path / "lake", nats_url)
    _, seen = await run_service(settings, arrived(len(events)))
    table = read_tier(tmp_path / "lake", "bronze/stocks/trades")
    assert sorted(table.column("seq").to_pylist()) == list(range(len(events)))
    files = sorted(p.relative_to(tmp_path / "lake").as_posix()
                   for p in (tmp_path / "lake").rglob("*.parquet"))
    files = [f for f in files if not f.startswith("_ledger/")]  # the hidden ledger aside
    dirs = {f.rsplit("/", 1)[0] for f in files}
    assert dirs == {
        "bronze/stocks/trades/symbol=QQQ/date=2025-12-31/hour=22",
        "bronze/stocks/trades/symbol=QQQ/date=2026-01-01/hour=00",
        "bronze/stocks/trades/symbol=QQQ/date=2026-01-01/hour=05",
        "bronze/stocks/trades/symbol=SPY/date=2025-12-31/hour=23",
        "bronze/stocks/trades/symbol=SPY/date=2026-01-01/hour=00",
        "bronze/stocks/trades/symbol=SPY/date=2026-01-01/hour=03",
    }
    for name in files:  # each file records exactly the stream sequences of its own rows
        path = tmp_path / "lake" / name
        meta = pq.read_schema(path).metadata
        rows = pq.read_table(path).column("seq").to_pylist()
        expected = [str(seq + 1).encode() for seq in rows]  # published in order: sseq = seq+1
        assert meta[b"lakeconsole.stream_seq_min"] == min(expected, key=int)
        assert meta[b"lakeconsole.stream_seq_max"] == max(expected, key=int)
    assert flushed_rows(seen) == len(events)


async def test_size_flush_and_ack(tmp_path: Path, nats_url, nats_server):
    """A full buffer flushes at once; after stop the consumer has nothing pending."""
    events = [trade(i, BASE_NS + i * 1000) for i in range(2500)]
    await publish(nats_url, [("market.stocks.trades", encode(e)) for e in events])
    settings = settings_for(tmp_path / "lake", nats_url, **{"bronze.max_age_s": 60.0})
    # max_age is 60 s, so a flush before stop can only be a size flush.
    _, seen = await run_service(settings, lambda s: flushed_rows(s) >= 1000)
    assert flushed_rows(seen) == 2500  # the rest is flushed on stop
    table = read_tier(tmp_path / "lake", "bronze")
    assert table.num_rows == 2500
    import nats as nats_py

    nc = await nats_py.connect(nats_server.url)
    info = await nc.jetstream().consumer_info("MARKET", "lake-bronze")
    await nc.close()
    assert info.num_pending == 0 and info.num_ack_pending == 0


async def test_time_flush_with_a_trickle(tmp_path: Path, nats_url):
    """A buffer far below max_events still flushes after max_age_s without new messages."""
    settings = settings_for(tmp_path / "lake", nats_url, **{"bronze.max_age_s": 0.5})
    service = Service(settings)
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    await service.start()
    try:
        await publish(nats_url, [("market.stocks.trades", encode(trade(1, BASE_NS)))])
        await wait_for(lambda: flushed_rows(seen) == 1, timeout=10)
        assert buffered(service)["stocks.trades"] == 0
    finally:
        await service.stop()


async def test_clean_stop_flushes_what_is_buffered(tmp_path: Path, nats_url):
    """Stop writes a partial buffer (no timer involved: max_age is long)."""
    await publish(nats_url, [("market.futures.trades", encode(
        {"ts_event_ns": BASE_NS, "symbol": "ESZ5", "price": 6000.25, "size": 1,
         "aggressor": 1, "exchange": 1, "seq": 1}))])
    settings = settings_for(tmp_path / "lake", nats_url, **{"bronze.max_age_s": 600.0})
    service = Service(settings)
    await service.start()
    await wait_for(lambda: buffered(service)["futures.trades"] == 1)
    await service.stop()
    df = BronzeReader(service.storage).read("bronze", "futures.trades", "ESZ5", "2026-01-01")
    assert df["price"].tolist() == [6000.25]


async def test_bad_input_is_quarantined_and_good_events_kept(tmp_path: Path, nats_url):
    """Each kind of bad input lands in quarantine with a reason; the good ones in Bronze."""
    good = [trade(i, BASE_NS + i) for i in range(4)]
    bad_batch = [good[2], {"ts_event_ns": BASE_NS, "symbol": "SPY"}, good[3]]
    items = [
        ("market.stocks.trades", encode(good[0])),
        ("market.stocks.trades", b"this is not json"),
        ("market.stocks.trades", encode({**good[1], "size": "big"})),
        ("market.stocks.trades", encode(good[1])),
        ("market.stocks.trades", encode(bad_batch)),
        ("market.stocks.trades", encode({**trade(9, BASE_NS), "size": 2**40})),
        ("market.crypto.trades", encode(good[0])),
        ("market.stocks.trades", encode({**trade(10, BASE_NS), "venue_extra": 1})),
    ]
    await publish(nats_url, items)
    settings = settings_for(tmp_path / "lake", nats_url)
    _, seen = await run_service(settings, arrived(10))
    kept = read_tier(tmp_path / "lake", "bronze/stocks/trades")
    assert sorted(kept.column("seq").to_pylist()) == [0, 1, 2, 3, 10]
    quarantine = read_tier(tmp_path / "lake", "quarantine")
    reasons = quarantine.column("reason").to_pylist()
    assert len(reasons) == 5
    assert any("not valid JSON" in r for r in reasons)
    assert any("Expected `int`, got `str`" in r and "size" in r for r in reasons)
    assert any(r.startswith("element 1:") and "price" in r for r in reasons)
    assert any("<= 2147483647" in r for r in reasons)
    assert any("unknown subject" in r for r in reasons)
    assert b"this is not json" in quarantine.column("raw").to_pylist()
    subjects = set(quarantine.column("subject").to_pylist())
    assert subjects == {"market.stocks.trades", "market.crypto.trades"}
    assert all(s > 0 for s in quarantine.column("stream_seq").to_pylist())
    assert sum(e.count for e in seen if isinstance(e, ev.Quarantined)) == 5
    # The extra field of seq 10 is ignored, kept out of Bronze, and counted.
    assert sum(e.unknown_fields for e in seen if isinstance(e, ev.Received)) == 1
    assert "venue_extra" not in kept.column_names


async def test_gold_levels_flattened(tmp_path: Path, nats_url):
    """A levels.signals payload with two levels becomes two flat Gold rows."""
    level = {
        "id": "PDH", "kind": "PDH", "price": 601.5, "direction": "UP", "distance": 0.4,
        "break_score_raw": 0.7, "break_score_smooth": 0.6, "signal": "BREAK", "confidence": "HIGH",
        "barrier": {"state": "WALL", "delta_liq": -120.0, "replenishment_ratio": 0.9,
                    "added": 10, "canceled": 4, "filled": 3},
        "tape": {"imbalance": 0.2, "buy_vol": 900, "sell_vol": 700, "velocity": 1.5,
                 "sweep_detected": True},
        "fuel": {"effect": "AMPLIFY", "net_dealer_gamma": -2.5e9, "call_wall": 610.0,
                 "put_wall": 590.0},
        "runway": {"direction": "UP", "next_level_price": 605.0, "distance": 3.5,
                   "quality": "CLEAR"},
    }
    payload = {"ts_event_ns": BASE_NS + 5, "underlying": "SPY", "spot": 601.1, "bid": 601.09,
               "ask": 601.11, "levels": [level, {**level, "id": "VWAP", "kind": "VWAP"}]}
    await publish(nats_url, [("levels.signals", encode(payload))])
    settings = settings_for(tmp_path / "lake", nats_url)
    service, _ = await run_service(settings, arrived(2))
    df = BronzeReader(service.storage).read("gold", "levels.signals", "SPY", "2026-01-01")
    assert df["level_id"].tolist() == ["PDH", "VWAP"]
    row = df.iloc[0]
    assert row["barrier_state"] == "WALL" and row["tape_sweep_detected"]
    assert row["fuel_call_wall"] == 610.0 and row["runway_quality"] == "CLEAR"
    assert row["ts_event_ns"] == BASE_NS + 5


@pytest.mark.s3
async def test_s3_as_bronze_target(nats_url, s3_endpoint, s3_bucket):
    """The same writer publishes to a real S3 API (moto) when use_s3 is set."""
    from lakeconsole.config import load_settings

    events = [trade(i, BASE_NS + i) for i in range(50)]
    await publish(nats_url, [("market.stocks.trades", encode(events))])
    settings = load_settings(env={}, overrides={
        "storage.use_s3": True, "storage.s3_bucket": s3_bucket, "storage.s3_endpoint": s3_endpoint,
        "storage.s3_access_key": "testing", "storage.s3_secret_key": "testing",
        "nats.url": nats_url,
    })
    service, _ = await run_service(settings, arrived(50))
    df = BronzeReader(service.storage).read_stock_trades("SPY", "2026-01-01")
    assert df["seq"].tolist() == list(range(50))
    assert service.storage.backend == "s3"


async def test_oversized_message_is_quarantined(tmp_path: Path, nats_url):
    """A message above nats.max_message_bytes goes to quarantine, the next one to Bronze."""
    big = trade(1, BASE_NS, note="x" * 500)
    await publish(nats_url, [("market.stocks.trades", encode(big)),
                             ("market.stocks.trades", encode(trade(2, BASE_NS)))])
    settings = settings_for(tmp_path / "lake", nats_url, **{"nats.max_message_bytes": 300})
    await run_service(settings, arrived(2))
    reasons = read_tier(tmp_path / "lake", "quarantine").column("reason").to_pylist()
    assert len(reasons) == 1 and "exceeds nats.max_message_bytes=300" in reasons[0]
    assert read_tier(tmp_path / "lake", "bronze").column("seq").to_pylist() == [2]


async def test_embedded_nats_from_config(tmp_path: Path):
    """nats.embedded = true: the service runs its own nats-server under the data root."""
    settings = settings_for(tmp_path / "lake", "nats://127.0.0.1:1", **{"nats.embedded": True})
    service = Service(settings)
    await service.start()
    try:
        assert service.embedded is not None and service.embedded.running
        assert service.nats_url != "nats://127.0.0.1:1"
        assert (tmp_path / "nats").is_dir()  # the store lives next to the lake
        await publish(service.nats_url, [("market.stocks.trades", encode(trade(7, BASE_NS)))])
        await wait_for(lambda: buffered(service)["stocks.trades"] == 1)
    finally:
        await service.stop()
    assert service.embedded is None
    assert read_tier(tmp_path / "lake", "bronze").column("seq").to_pylist() == [7]
