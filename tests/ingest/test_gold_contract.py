"""Contract-conformant `levels.signals` payloads land in Gold, typed as DESIGN §3 says, through
the real Service and a real nats-server; none of them is quarantined."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lakeconsole import events as ev
from lakeconsole.query.readers import LakeReader
from lakeconsole.service import Service
from tests.factories import GOLD_CONTRACT
from tests.ingest.helpers import BASE_NS, encode, publish, read_tier, settings_for, wait_for

pytestmark = pytest.mark.timeout(90)
MESSAGES, LEVELS = 150, 3
LABELS = ("HIGH", "MEDIUM", "LOW")
BIG_VOLUME = 5_000_000_000  # beyond int32: tape volumes are int64


def signal(i: int) -> dict[str, Any]:
    """Message i: integer counts, a label confidence, JSON integers for some float fields."""
    levels = [
        {"id": f"L{k}", "kind": "PDH", "price": 600 + k, "direction": "UP", "distance": k,
         "break_score_raw": 70, "break_score_smooth": 0.6, "signal": "BREAK",
         "confidence": LABELS[(i + k) % 3],
         "barrier": {"state": "WALL", "delta_liq": -120.0, "replenishment_ratio": 1,
                     "added": i, "canceled": k, "filled": 2**31 - 1},
         "tape": {"imbalance": 0.2, "buy_vol": BIG_VOLUME + i, "sell_vol": 700,
                  "velocity": 1.5, "sweep_detected": k == 0},
         "fuel": {"effect": "AMPLIFY", "net_dealer_gamma": -2_500_000_000, "call_wall": 610,
                  "put_wall": 590.5},
         "runway": {"direction": "UP", "next_level_price": 605, "distance": 3.5,
                    "quality": "CLEAR"}}
        for k in range(LEVELS)
    ]
    return {"ts_event_ns": BASE_NS + i * 1_000, "underlying": "SPY" if i % 2 else "QQQ",
            "spot": 601, "bid": 600.99, "ask": 601.01, "levels": levels}


def settled(rows: int):
    """Condition: `rows` Gold rows received, or anything quarantined (then fail below)."""

    def check(events: list[ev.Event]) -> bool:
        good = sum(sum(e.counts.values()) for e in events if isinstance(e, ev.Received))
        return good >= rows or any(isinstance(e, ev.Quarantined) for e in events)

    return check


async def test_contract_payloads_land_in_gold_with_contract_types(tmp_path: Path, nats_url):
    await publish(nats_url, [("levels.signals", encode(signal(i))) for i in range(MESSAGES)])
    root = tmp_path / "lake"
    service = Service(settings_for(root, nats_url))
    seen: list[ev.Event] = []
    service.subscribe(seen.append)
    await service.start()
    try:
        await wait_for(lambda: settled(MESSAGES * LEVELS)(seen))
    finally:
        await service.stop()

    assert [e.reason for e in seen if isinstance(e, ev.Quarantined)] == []
    assert read_tier(root, "quarantine").num_rows == 0
    files = sorted(root.glob("gold/levels/signals/*/*/*/*.parquet"))
    assert files and all(
        [(f.name, f.type) for f in pq.read_schema(p)] == GOLD_CONTRACT for p in files
    )

    reader = LakeReader(service.storage)
    spy = reader.read_arrow("gold", "levels.signals", "SPY", "2026-01-01")
    qqq = reader.read_arrow("gold", "levels.signals", "QQQ", "2026-01-01")
    assert spy.num_rows + qqq.num_rows == MESSAGES * LEVELS
    assert [(f.name, f.type) for f in spy.schema] == GOLD_CONTRACT
    rows = spy.to_pylist() + qqq.to_pylist()
    assert Counter(r["confidence"] for r in rows) == {label: MESSAGES for label in LABELS}
    assert sorted({r["barrier_added"] for r in rows}) == list(range(MESSAGES))
    assert {r["barrier_filled"] for r in rows} == {2**31 - 1}
    assert sorted({r["tape_buy_vol"] for r in rows}) == [BIG_VOLUME + i for i in range(MESSAGES)]
    assert {(r["spot"], r["level_price"] - r["distance"]) for r in rows} == {(601.0, 600.0)}
