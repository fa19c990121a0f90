"""Synthetic market feed for ``--demo`` and ``simulate``: SPY/QQQ, SPY options, ES futures, levels.

The generator part (:class:`DemoFeed`) does no I/O; :func:`run_feed` paces it onto a bus.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import math
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable

Event = dict[str, Any]
ProgressCallback = Callable[[int, float], None]

SUBJECT_WEIGHTS: dict[str, float] = {
    "market.stocks.trades": 0.26,
    "market.stocks.quotes": 0.30,
    "market.options.trades": 0.12,
    "market.options.greeks": 0.06,
    "market.futures.trades": 0.12,
    "market.futures.mbp10": 0.13,
    "levels.signals": 0.01,
}
STOCKS: dict[str, float] = {"SPY": 600.0, "QQQ": 520.0}
FUTURES: dict[str, float] = {"ESZ5": 6040.0}
STOCK_EXCHANGES = (1, 2, 3, 4, 7, 8, 10, 11, 12, 15, 17, 19)  # CTA-style venue ids
CME = 1
ES_TICK = 0.25
LEVEL_KINDS = ("PDH", "PDL", "VWAP", "CALL_WALL", "PUT_WALL", "ROUND")
_SOURCE = "demo"


def occ_symbol(root: str, expiry: dt.date, right: str, strike: float) -> str:
    """OCC option symbol, e.g. ``SPY   261127C00600000`` (root padded to 6, strike x1000)."""
    return f"{root:<6}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def black_scholes(
    spot: float, strike: float, years: float, vol: float, right: str, rate: float = 0.04
) -> dict[str, float]:
    """Price and greeks (theta per day, vega per vol point) of a European option."""
    years = max(years, 1.0 / (365 * 24))
    sq = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / sq
    d2 = d1 - sq
    disc = math.exp(-rate * years)
    decay = -spot * _norm_pdf(d1) * vol / (2 * math.sqrt(years))
    if right == "C":
        price = spot * _norm_cdf(d1) - strike * disc * _norm_cdf(d2)
        delta = _norm_cdf(d1)
        theta = decay - rate * strike * disc * _norm_cdf(d2)
    else:
        price = strike * disc * _norm_cdf(-d2) - spot * _norm_cdf(-d1)
        delta = _norm_cdf(d1) - 1.0
        theta = decay + rate * strike * disc * _norm_cdf(-d2)
    return {
        "price": max(price, 0.01),
        "delta": delta,
        "gamma": _norm_pdf(d1) / (spot * sq),
        "theta": theta / 365.0,
        "vega": spot * _norm_pdf(d1) * math.sqrt(years) / 100.0,
    }


class _Clock:
    """Event timestamps: wall clock by default, or a reproducible virtual clock."""

    def __init__(self, rng: random.Random, start_ns: int | None) -> None:
        self._rng = rng
        self._virtual = start_ns
        self._last = 0

    def now(self) -> int:
        if self._virtual is not None:
            self._virtual += self._rng.randint(1_000, 500_000)
            return self._virtual
        # Strictly increasing even when the OS clock is coarse.
        self._last = max(time.time_ns(), self._last + 1)
        return self._last


class DemoFeed:
    """Endless plausible market: yields ``(subject, event dict)`` or encoded messages."""

    def __init__(self, seed: int | None = None, *, start_ns: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.clock = _Clock(self.rng, start_ns)
        self.stocks = dict(STOCKS)
        self.futures = dict(FUTURES)
        self._seq: dict[tuple[str, str], itertools.count[int]] = {}
        self._books_seen: set[str] = set()
        self._subjects = list(SUBJECT_WEIGHTS)
        self._weights = list(SUBJECT_WEIGHTS.values())
        self._makers: dict[str, Callable[[], Event]] = {
            "market.stocks.trades": self.stock_trade,
            "market.stocks.quotes": self.stock_quote,
            "market.options.trades": self.option_trade,
            "market.options.greeks": self.option_greeks,
            "market.futures.trades": self.futures_trade,
            "market.futures.mbp10": self.futures_book,
            "levels.signals": self.levels_signal,
        }

    # -- streams ---------------------------------------------------------------------

    def events(self) -> Iterator[tuple[str, Event]]:
        """Endless ``(subject, event)`` pairs in a realistic mix."""
        while True:
            subject = self.rng.choices(self._subjects, self._weights)[0]
            yield subject, self._makers[subject]()

    def messages(self, batch: int = 1) -> Iterator[tuple[str, bytes]]:
        """Endless ``(subject, UTF-8 JSON)``: one object, or an array of ``batch`` events."""
        encode = msgspec.json.encode
        if batch <= 1:
            for subject, event in self.events():
                yield subject, encode(event)
        while True:
            subject = self.rng.choices(self._subjects, self._weights)[0]
            make = self._makers[subject]
            yield subject, encode([make() for _ in range(batch)])

    def take(self, n: int, batch: int = 1) -> list[tuple[str, bytes]]:
        """The next ``n`` messages (each holding ``batch`` events)."""
        return list(itertools.islice(self.messages(batch), n))

    def trades(self, n: int, symbol: str = "SPY") -> Iterator[tuple[str, bytes]]:
        """``n`` single stock-trade messages (small payloads, for benchmarks)."""
        encode = msgspec.json.encode
        for _ in range(n):
            yield "market.stocks.trades", encode(self.stock_trade(symbol))

    # -- helpers -------------------------------------------------------------------------

    def _next_seq(self, subject: str, key: str) -> int:
        counter = self._seq.get((subject, key))
        if counter is None:
            counter = self._seq[(subject, key)] = itertools.count(1)
        return next(counter)

    def _walk(self, prices: dict[str, float], symbol: str, step: float, tick: float) -> float:
        price = prices[symbol] + self.rng.gauss(0.0, step)
        prices[symbol] = max(tick, round(price / tick) * tick)
        return prices[symbol]

    def _spot(self, symbol: str = "SPY") -> float:
        return self._walk(self.stocks, symbol, 0.02, 0.01)

    def _expiries(self, today: dt.date) -> list[dt.date]:
        fridays = [today + dt.timedelta(days=(4 - today.weekday()) % 7 + 7 * k) for k in range(3)]
        return sorted({today, *fridays, dt.date(today.year + 1, 11, 27)})

    # -- event makers ----------------------------------------------------------------

    def stock_trade(self, symbol: str | None = None) -> Event:
        """A ``stocks.trades.v1`` event."""
        symbol = symbol or self.rng.choice(tuple(self.stocks))
        return {
            "ts_event_ns": self.clock.now(), "source": _SOURCE, "symbol": symbol,
            "price": round(self._spot(symbol), 2),
            "size": self.rng.choice((1, 5, 10, 100, 200, 500)),
            "exchange": self.rng.choice(STOCK_EXCHANGES),
            "seq": self._next_seq("stocks.trades", symbol),
        }

    def stock_quote(self, symbol: str | None = None) -> Event:
        """A ``stocks.quotes.v1`` event with ``bid_px < ask_px``."""
        symbol = symbol or self.rng.choice(tuple(self.stocks))
        mid = self._spot(symbol)
        half = 0.01 * self.rng.randint(1, 3)
        return {
            "ts_event_ns": self.clock.now(), "source": _SOURCE, "symbol": symbol,
            "bid_px": round(mid - half, 2), "ask_px": round(mid + half, 2),
            "bid_sz": self.rng.randint(1, 40) * 100, "ask_sz": self.rng.randint(1, 40) * 100,
            "bid_exch": self.rng.choice(STOCK_EXCHANGES),
            "ask_exch": self.rng.choice(STOCK_EXCHANGES),
            "seq": self._next_seq("stocks.quotes", symbol),
        }

    def _contract(self, ts_ns: int) -> dict[str, Any]:
        spot = self.stocks["SPY"]
        today = dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC).date()
        expiry = self.rng.choice(self._expiries(today))
        strike = float(round(spot) + self.rng.randint(-10, 10))
        right = self.rng.choice("CP")
        years = ((expiry - today).days + 0.3) / 365.0
        vol = 0.14 + 0.004 * abs(strike - spot) + self.rng.uniform(-0.01, 0.01)
        model = black_scholes(spot, strike, years, vol, right)
        return {
            "underlying": "SPY", "option_symbol": occ_symbol("SPY", expiry, right, strike),
            "exp_date": expiry.isoformat(), "strike": strike, "right": right,
            "model": model, "vol": vol,
        }

    def option_trade(self) -> Event:
        """An ``options.trades.v1`` event near the money."""
        ts = self.clock.now()
        self._spot("SPY")
        c = self._contract(ts)
        price = round(c["model"]["price"] * self.rng.uniform(0.98, 1.02), 2)
        return {
            "ts_event_ns": ts, "source": _SOURCE, "underlying": c["underlying"],
            "option_symbol": c["option_symbol"], "exp_date": c["exp_date"], "strike": c["strike"],
            "right": c["right"], "price": max(price, 0.01), "size": self.rng.randint(1, 50),
            "exchange": self.rng.choice(STOCK_EXCHANGES), "aggressor": self.rng.choice((1, -1, 0)),
            "seq": self._next_seq("options.trades", "SPY"),
        }

    def option_greeks(self) -> Event:
        """An ``options.greeks.v1`` snapshot consistent with Black-Scholes."""
        ts = self.clock.now()
        c = self._contract(ts)
        m = c["model"]
        return {
            "ts_event_ns": ts, "source": _SOURCE, "underlying": c["underlying"],
            "option_symbol": c["option_symbol"], "exp_date": c["exp_date"], "strike": c["strike"],
            "right": c["right"], "delta": round(m["delta"], 5), "gamma": round(m["gamma"], 6),
            "theta": round(m["theta"], 5), "vega": round(m["vega"], 5),
            "implied_vol": round(c["vol"], 5), "open_interest": self.rng.randint(100, 90_000),
            "seq": self._next_seq("options.greeks", "SPY"),
        }

    def futures_trade(self, symbol: str = "ESZ5") -> Event:
        """A ``futures.trades.v1`` event on the 0.25 tick grid."""
        return {
            "ts_event_ns": self.clock.now(), "source": _SOURCE, "symbol": symbol,
            "price": self._walk(self.futures, symbol, 0.3, ES_TICK),
            "size": self.rng.randint(1, 25), "aggressor": self.rng.choice((1, -1, 0)),
            "exchange": CME, "seq": self._next_seq("futures.trades", symbol),
        }

    def futures_book(self, symbol: str = "ESZ5") -> Event:
        """A ``futures.mbp10.v1`` book: never crossed, prices monotonic away from the touch."""
        mid = self._walk(self.futures, symbol, 0.3, ES_TICK)
        best_bid = math.floor(mid / ES_TICK) * ES_TICK - ES_TICK * self.rng.randint(0, 1)
        best_ask = best_bid + ES_TICK * self.rng.randint(1, 2)
        event: Event = {"ts_event_ns": self.clock.now(), "source": _SOURCE, "symbol": symbol}
        event["is_snapshot"] = symbol not in self._books_seen
        self._books_seen.add(symbol)
        for k in range(1, 11):
            event[f"bid_px_{k}"] = best_bid - ES_TICK * (k - 1)
            event[f"bid_sz_{k}"] = self.rng.randint(1, 400)
            event[f"ask_px_{k}"] = best_ask + ES_TICK * (k - 1)
            event[f"ask_sz_{k}"] = self.rng.randint(1, 400)
        event["seq"] = self._next_seq("futures.mbp10", symbol)
        return event

    def levels_signal(self, underlying: str = "SPY") -> Event:
        """A ``levels.signals`` payload with one entry per tracked level."""
        spot = self._spot(underlying)
        prices = sorted(round(spot + self.rng.uniform(-6, 6), 2) for _ in LEVEL_KINDS)
        levels = [self._level(underlying, kind, price, spot, prices)
                  for kind, price in zip(LEVEL_KINDS, prices, strict=True)]
        return {
            "ts_event_ns": self.clock.now(), "underlying": underlying, "spot": spot,
            "bid": round(spot - 0.01, 2), "ask": round(spot + 0.01, 2), "levels": levels,
        }

    def _level(
        self, underlying: str, kind: str, price: float, spot: float, ladder: Iterable[float]
    ) -> Event:
        rng = self.rng
        up = price >= spot
        beyond = [p for p in ladder if (p > price if up else p < price)]
        if beyond:
            nxt = min(beyond) if up else max(beyond)
        else:
            nxt = round(price + (2.0 if up else -2.0), 2)
        raw = rng.uniform(0, 100)
        buy, sell = rng.randint(0, 50_000), rng.randint(0, 50_000)
        return {
            "id": f"{underlying}-{kind}", "kind": kind, "price": price,
            "direction": "UP" if up else "DOWN", "distance": round(price - spot, 4),
            "break_score_raw": round(raw, 3), "break_score_smooth": round(raw * 0.7 + 15, 3),
            "signal": rng.choice(("BREAK", "BOUNCE", "NEUTRAL")),
            "confidence": rng.choice(("HIGH", "MEDIUM", "LOW")),
            "barrier": {
                "state": rng.choice(("WALL", "VACUUM", "ABSORPTION", "CONSUMED", "NEUTRAL")),
                "delta_liq": round(rng.gauss(0, 500), 2),
                "replenishment_ratio": round(rng.uniform(0, 2), 3),
                "added": rng.randint(0, 5000), "canceled": rng.randint(0, 5000),
                "filled": rng.randint(0, 5000),
            },
            "tape": {
                "imbalance": round((buy - sell) / max(1, buy + sell), 4), "buy_vol": buy,
                "sell_vol": sell, "velocity": round(rng.uniform(-2, 2), 4),
                "sweep_detected": rng.random() < 0.1,
            },
            "fuel": {
                "effect": rng.choice(("AMPLIFY", "DAMPEN", "NEUTRAL")),
                "net_dealer_gamma": round(rng.gauss(0, 1e9), 2),
                "call_wall": float(round(spot) + 5), "put_wall": float(round(spot) - 5),
            },
            "runway": {
                "direction": "UP" if up else "DOWN", "next_level_price": nxt,
                "distance": round(abs(nxt - price), 4),
                "quality": rng.choice(("CLEAR", "OBSTRUCTED")),
            },
        }


class _Publisher(Protocol):
    async def publish_many(
        self, items: Iterable[tuple[str, bytes]], *, confirm: bool = ..., window: int = ...,
        timeout: float = ...,
    ) -> int: ...


async def run_feed(
    bus: _Publisher,
    rate: float,
    duration: float | None = None,
    batch: int = 1,
    on_progress: ProgressCallback | None = None,
    *,
    seed: int | None = None,
    tick: float = 0.05,
) -> int:
    """Publish the demo feed at about ``rate`` events/s; return events sent.

    Paced in ticks: each tick sends what is due since the start (so a slow tick is caught
    up), as JetStream publishes acked in windows. Stops after ``duration`` s or on cancel.
    """
    feed = DemoFeed(seed)
    messages = feed.messages(batch)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while True:
        elapsed = loop.time() - start
        if duration is not None and elapsed >= duration:
            break
        due_msgs = int(rate * elapsed / batch) - sent // batch
        # Never build more than ~1 s of traffic in one go: keeps memory flat after a stall.
        due_msgs = min(due_msgs, max(1, int(rate / batch)))
        if due_msgs > 0:
            await bus.publish_many(itertools.islice(messages, due_msgs))
            sent += due_msgs * batch
            if on_progress is not None:
                on_progress(sent, loop.time() - start)
        await asyncio.sleep(max(0.0, tick - (loop.time() - start - elapsed)))
    return sent
