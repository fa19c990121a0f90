"""`lakeconsole simulate` publishes a decodable market feed to JetStream."""

from __future__ import annotations

import asyncio

import nats
import pytest

from lakeconsole.cli import main
from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import by_subject
from lakeconsole.contract.wire import BronzeDecoder

pytestmark = pytest.mark.timeout(60)


async def stored(url: str) -> dict[str, list[bytes]]:
    """Every message in MARKET and LEVELS, grouped by subject."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    out: dict[str, list[bytes]] = {}
    for stream in ("MARKET", "LEVELS"):
        info = await js.stream_info(stream)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.setdefault(msg.subject, []).append(msg.data)
    await nc.close()
    return out


def test_simulate_publishes_every_subject_at_about_the_rate(nats_url: str, capsys) -> None:
    """Two seconds at 300 events/s: every subject present, every message valid."""
    code = main(["simulate", "--rate", "300", "--duration", "2", "--nats-url", nats_url,
                 "--seed", "1"])
    assert code == 0
    assert "published" in capsys.readouterr().err
    messages = asyncio.run(stored(nats_url))
    assert set(messages) == {
        "market.stocks.trades", "market.stocks.quotes", "market.options.trades",
        "market.options.greeks", "market.futures.trades", "market.futures.mbp10",
        "levels.signals",
    }
    total = sum(len(v) for v in messages.values())
    assert 300 <= total <= 900
    for subject, datas in messages.items():
        ds = by_subject(subject)
        decoder = GoldDecoder(ds) if ds.tier == "gold" else BronzeDecoder(ds)
        for data in datas:
            decoded = decoder.decode(data)
            assert decoded.events and not decoded.bad and not decoded.unknown_fields
