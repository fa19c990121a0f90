"""The demo feed's payloads follow docs/design.md §2/§3 and run_feed paces by rate."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import msgspec
import pytest

from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import by_name
from lakeconsole.demo.feed import DemoFeed, black_scholes, occ_symbol, run_feed

pytestmark = pytest.mark.timeout(60)

BASE = {"ts_event_ns": int, "seq": int}
REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "market.stocks.trades": {**BASE, "symbol": str, "price": float, "size": int, "exchange": int},
    "market.stocks.quotes": {**BASE, "symbol": str, "bid_px": float, "ask_px": float,
                             "bid_sz": int, "ask_sz": int, "bid_exch": int, "ask_exch": int},
    "market.options.trades": {**BASE, "underlying": str, "option_symbol": str, "exp_date": str,
                              "strike": float, "right": str, "price": float, "size": int,
                              "exchange": int, "aggressor": int},
    "market.options.greeks": {**BASE, "underlying": str, "option_symbol": str, "exp_date": str,
                              "strike": float, "right": str, "delta": float, "gamma": float,
                              "theta": float, "vega": float, "implied_vol": float,
                              "open_interest": int},
    "market.futures.trades": {**BASE, "symbol": str, "price": float, "size": int,
                              "aggressor": int, "exchange": int},
    "market.futures.mbp10": {**BASE, "symbol": str, "is_snapshot": bool,
                             **{f"{side}_px_{k}": float for side in ("bid", "ask")
                                for k in range(1, 11)},
                             **{f"{side}_sz_{k}": int for side in ("bid", "ask")
                                for k in range(1, 11)}},
}
LEVEL_FIELDS = {"id", "kind", "price", "direction", "distance", "break_score_raw",
                "break_score_smooth", "signal", "confidence", "barrier", "tape", "fuel", "runway"}
NESTED = {
    "barrier": {"state", "delta_liq", "replenishment_ratio", "added", "canceled", "filled"},
    "tape": {"imbalance", "buy_vol", "sell_vol", "velocity", "sweep_detected"},
    "fuel": {"effect", "net_dealer_gamma", "call_wall", "put_wall"},
    "runway": {"direction", "next_level_price", "distance", "quality"},
}
OCC = re.compile(r"^(?P<root>[A-Z]{1,6}) *(?P<ymd>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, dict[str, Any]]]:
    feed = DemoFeed(seed=42)
    return [(subject, msgspec.json.decode(data)) for subject, data in feed.take(20_000)]


def by_subject(sample: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for subject, event in sample:
        out[subject].append(event)
    return out


def test_every_subject_appears(sample: list[tuple[str, dict[str, Any]]]) -> None:
    assert set(by_subject(sample)) == {*REQUIRED, "levels.signals"}


@pytest.mark.parametrize("subject", sorted(REQUIRED))
def test_required_fields_and_types(sample: list[tuple[str, dict[str, Any]]], subject: str) -> None:
    for event in by_subject(sample)[subject]:
        for name, typ in REQUIRED[subject].items():
            assert isinstance(event[name], typ), (subject, name, event[name])
            if typ is int or typ is float:
                assert not isinstance(event[name], bool)
        assert "ts_recv_ns" not in event


def test_timestamps_are_utc_nanoseconds_near_now(sample: list[tuple[str, dict[str, Any]]]) -> None:
    now = time.time_ns()
    stamps = [event["ts_event_ns"] for _, event in sample]
    assert all(now - 600 * 10**9 < ts <= now for ts in stamps)
    assert stamps == sorted(stamps)


def test_seq_increases_per_symbol(sample: list[tuple[str, dict[str, Any]]]) -> None:
    last: dict[tuple[str, str], int] = {}
    for subject, event in sample:
        if subject == "levels.signals":
            continue
        key = (subject, event.get("symbol") or event["underlying"])
        assert event["seq"] > last.get(key, 0)
        last[key] = event["seq"]


def test_quotes_are_not_crossed(sample: list[tuple[str, dict[str, Any]]]) -> None:
    for q in by_subject(sample)["market.stocks.quotes"]:
        assert 0 < q["bid_px"] < q["ask_px"] and q["bid_sz"] > 0 and q["ask_sz"] > 0


def test_books_never_crossed_and_monotonic(sample: list[tuple[str, dict[str, Any]]]) -> None:
    books = by_subject(sample)["market.futures.mbp10"]
    assert books[0]["is_snapshot"] and not all(b["is_snapshot"] for b in books)
    for b in books:
        bids = [b[f"bid_px_{k}"] for k in range(1, 11)]
        asks = [b[f"ask_px_{k}"] for k in range(1, 11)]
        assert bids[0] < asks[0]
        assert bids == sorted(bids, reverse=True) and len(set(bids)) == 10
        assert asks == sorted(asks) and len(set(asks)) == 10
        assert all(px % 0.25 == 0 for px in bids + asks)


def test_options_are_consistent(sample: list[tuple[str, dict[str, Any]]]) -> None:
    events = by_subject(sample)
    spy = [e["price"] for e in by_subject(sample)["market.stocks.trades"] if e["symbol"] == "SPY"]
    for o in events["market.options.trades"] + events["market.options.greeks"]:
        m = OCC.match(o["option_symbol"])
        assert m, o["option_symbol"]
        assert len(o["option_symbol"]) == 21 and m["root"] == o["underlying"] == "SPY"
        expiry = dt.date.fromisoformat(o["exp_date"])
        assert m["ymd"] == expiry.strftime("%y%m%d") and m["right"] == o["right"]
        assert int(m["strike"]) == round(o["strike"] * 1000)
        assert abs(o["strike"] - spy[0]) < 40
    for t in events["market.options.trades"]:
        assert t["aggressor"] in (1, -1, 0) and t["price"] > 0
    for g in events["market.options.greeks"]:
        assert (0 <= g["delta"] <= 1) if g["right"] == "C" else (-1 <= g["delta"] <= 0)
        assert g["gamma"] >= 0 and g["implied_vol"] > 0


def test_levels_signals_have_every_block(sample: list[tuple[str, dict[str, Any]]]) -> None:
    signals = by_subject(sample)["levels.signals"]
    assert signals
    for s in signals:
        assert {"ts_event_ns", "underlying", "spot", "bid", "ask", "levels"} <= set(s)
        assert s["bid"] < s["ask"] and s["levels"]
        for level in s["levels"]:
            assert set(level) == LEVEL_FIELDS
            for block, fields in NESTED.items():
                assert set(level[block]) == fields
            assert level["direction"] in ("UP", "DOWN")
            assert isinstance(level["tape"]["sweep_detected"], bool)
            assert level["confidence"] in ("HIGH", "MEDIUM", "LOW")
            counts = [level["barrier"][k] for k in ("added", "canceled", "filled")]
            counts += [level["tape"][k] for k in ("buy_vol", "sell_vol")]
            assert all(type(c) is int for c in counts), counts


def test_levels_signals_decode_into_gold_without_quarantine(
    sample: list[tuple[str, dict[str, Any]]],
) -> None:
    decoder = GoldDecoder(by_name("levels.signals"))
    signals = by_subject(sample)["levels.signals"]
    out = decoder.decode(msgspec.json.encode(signals))
    assert out.bad == [] and out.unknown_fields == 0
    assert len(out.events) == sum(len(s["levels"]) for s in signals)
    table = decoder.to_table(out.events, recv_ns=1)
    assert set(table.column("confidence").to_pylist()) == {"HIGH", "MEDIUM", "LOW"}


def test_occ_symbol_format() -> None:
    assert occ_symbol("SPY", dt.date(2026, 11, 27), "C", 600) == "SPY   261127C00600000"
    assert occ_symbol("SPY", dt.date(2026, 1, 2), "P", 512.5) == "SPY   260102P00512500"


def test_black_scholes_put_call_parity() -> None:
    call = black_scholes(600, 600, 0.5, 0.2, "C")
    put = black_scholes(600, 600, 0.5, 0.2, "P")
    parity = 600 - 600 * 2.718281828 ** (-0.04 * 0.5)
    assert call["price"] - put["price"] == pytest.approx(parity, rel=1e-6)
    assert call["delta"] - put["delta"] == pytest.approx(1.0)


def test_same_seed_same_feed() -> None:
    a = DemoFeed(7, start_ns=1_700_000_000_000_000_000).take(200)
    b = DemoFeed(7, start_ns=1_700_000_000_000_000_000).take(200)
    c = DemoFeed(8, start_ns=1_700_000_000_000_000_000).take(200)
    assert a == b and a != c


def test_batch_mode_yields_json_arrays() -> None:
    for subject, data in DemoFeed(3).take(50, batch=25):
        events = msgspec.json.decode(data)
        assert isinstance(events, list) and len(events) == 25
        if subject in REQUIRED:
            assert all(set(REQUIRED[subject]) <= set(e) for e in events)
        if subject != "levels.signals":
            per_symbol: dict[str, list[int]] = defaultdict(list)
            for e in events:
                per_symbol[e.get("symbol") or e["underlying"]].append(e["seq"])
            assert all(seqs == sorted(seqs) for seqs in per_symbol.values())


class Sink:
    """Collects what run_feed publishes (the bus side is tested against real NATS)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    async def publish_many(self, items: Iterable[tuple[str, bytes]], **_: Any) -> int:
        batch = list(items)
        self.messages.extend(batch)
        return len(batch)


async def test_run_feed_paces_to_rate() -> None:
    sink = Sink()
    progress: list[int] = []
    sent = await run_feed(
        sink, rate=4000, duration=0.5, on_progress=lambda n, _: progress.append(n)
    )
    assert sent == len(sink.messages)
    assert 1500 <= sent <= 2100
    assert progress == sorted(progress) and len(progress) >= 5  # paced in ticks, not one burst


async def test_run_feed_batches_and_cancels() -> None:
    sink = Sink()
    task = asyncio.create_task(run_feed(sink, rate=10_000, batch=50))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sink.messages
    assert all(len(msgspec.json.decode(data)) == 50 for _, data in sink.messages)
