"""Gold `levels.signals`: nested payloads flattened to one row per level."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import by_name

TS = 1_704_164_400_123_456_789
RECV = 1_704_164_401_000_000_001


def level(i: int, **over: Any) -> dict[str, Any]:
    """One level with every nested block."""
    lvl: dict[str, Any] = {
        "id": f"L{i}", "kind": "call_wall", "price": 470.0 + i, "direction": "up",
        "distance": 0.5 * i, "break_score_raw": 0.7, "break_score_smooth": 0.6,
        "signal": "break", "confidence": 0.9,
        "barrier": {"state": "thin", "delta_liq": -10.0, "replenishment_ratio": 0.3,
                    "added": 5.0, "canceled": 7.0, "filled": 2.0},
        "tape": {"imbalance": 0.2, "buy_vol": 900.0, "sell_vol": 700.0, "velocity": 1.5,
                 "sweep_detected": True},
        "fuel": {"effect": "amplify", "net_dealer_gamma": -1e9, "call_wall": 475.0,
                 "put_wall": 460.0},
        "runway": {"direction": "up", "next_level_price": 475.0, "distance": 4.5,
                   "quality": "clean"},
    }
    lvl.update(over)
    return lvl


def payload(n_levels: int = 2, **over: Any) -> dict[str, Any]:
    """A levels.signals payload."""
    p: dict[str, Any] = {"ts_event_ns": TS, "underlying": "SPY", "spot": 470.1, "bid": 470.05,
                         "ask": 470.15, "levels": [level(i) for i in range(n_levels)]}
    p.update(over)
    return p


def enc(obj: Any) -> bytes:
    """JSON bytes."""
    return json.dumps(obj).encode()


@pytest.fixture
def gold() -> GoldDecoder:
    """Decoder of levels.signals."""
    return GoldDecoder(by_name("levels.signals"))


def test_one_row_per_level_with_flattened_blocks(gold: GoldDecoder) -> None:
    out = gold.decode(enc(payload(3)))
    assert out.bad == [] and out.unknown_fields == 0
    table = gold.to_table(out.events, RECV)
    assert table.schema == by_name("levels.signals").schema
    assert table.num_rows == 3
    row = table.to_pylist()[1]
    assert row["ts_event_ns"] == TS and row["ts_recv_ns"] == RECV and row["source"] == "nats"
    assert (row["underlying"], row["spot"], row["bid"], row["ask"]) == (
        "SPY", 470.1, 470.05, 470.15)
    assert (row["level_id"], row["level_kind"], row["level_price"]) == ("L1", "call_wall", 471.0)
    assert (row["direction"], row["distance"], row["signal"]) == ("up", 0.5, "break")
    assert row["barrier_state"] == "thin" and row["barrier_replenishment_ratio"] == 0.3
    assert row["tape_sweep_detected"] is True and row["tape_buy_vol"] == 900.0
    assert row["fuel_effect"] == "amplify" and row["fuel_net_dealer_gamma"] == -1e9
    assert row["runway_distance"] == 4.5 and row["runway_quality"] == "clean"
    assert table.column("seq").to_pylist() == [0, 1, 2]  # index of the level in the payload


def test_given_seq_and_source_and_recv_are_kept(gold: GoldDecoder) -> None:
    out = gold.decode(enc(payload(2, seq=77, source="engine", ts_recv_ns=TS + 1)))
    table = gold.to_table(out.events, RECV)
    assert table.column("seq").to_pylist() == [77, 77]
    assert set(table.column("source").to_pylist()) == {"engine"}
    assert set(table.column("ts_recv_ns").to_pylist()) == {TS + 1}


def test_missing_blocks_become_nulls(gold: GoldDecoder) -> None:
    bare = {"id": "L9", "kind": "vwap", "price": 469.0}
    table = gold.to_table(gold.decode(enc(payload(0, levels=[bare]))).events, RECV)
    row = table.to_pylist()[0]
    assert row["level_id"] == "L9" and row["barrier_state"] is None and row["tape_velocity"] is None


def test_batch_of_payloads(gold: GoldDecoder) -> None:
    out = gold.decode(enc([payload(2), payload(3, underlying="QQQ")]))
    table = gold.to_table(out.events, RECV)
    assert table.column("underlying").to_pylist() == ["SPY"] * 2 + ["QQQ"] * 3


def test_payload_without_levels_yields_no_rows(gold: GoldDecoder) -> None:
    out = gold.decode(enc(payload(0)))
    assert out.events == [] and out.bad == []


def test_unknown_fields_ignored_and_counted_at_every_level(gold: GoldDecoder) -> None:
    lvl = level(0, note="x")
    lvl["tape"]["extra"] = 1
    lvl["runway"]["why"] = "y"
    out = gold.decode(enc(payload(0, levels=[lvl, level(1)], regime="calm")))
    assert out.bad == []
    assert out.unknown_fields == 4
    table = gold.to_table(out.events, RECV)
    assert table.num_rows == 2 and table.column("tape_imbalance").to_pylist() == [0.2, 0.2]


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"{oops", "not valid JSON"),
        (enc({k: v for k, v in payload().items() if k != "levels"}), "`levels`"),
        (enc({k: v for k, v in payload().items() if k != "underlying"}), "`underlying`"),
        (enc(payload(ts_event_ns="now")), "$.ts_event_ns"),
        (enc(payload(seq=2**64)), "$.seq"),
        (enc(payload(levels=[{"id": "L0", "kind": "k"}])), "`price`"),
        (enc(payload(levels=[level(0, tape={"sweep_detected": "yes"})])),
         "$.levels[0].tape.sweep_detected"),
        (b"7", "Expected `object`"),
    ],
)
def test_bad_payload_has_a_reason(gold: GoldDecoder, raw: bytes, reason: str) -> None:
    out = gold.decode(raw)
    assert out.events == [] and len(out.bad) == 1
    assert out.bad[0].raw == raw
    assert reason in out.bad[0].reason


def test_bad_element_in_batch_keeps_the_good_ones(gold: GoldDecoder) -> None:
    out = gold.decode(enc([payload(2), payload(1, spot="high"), payload(1, underlying="IWM")]))
    table = gold.to_table(out.events, RECV)
    assert table.column("underlying").to_pylist() == ["SPY", "SPY", "IWM"]
    assert len(out.bad) == 1 and out.bad[0].reason.startswith("element 1: ")
    assert json.loads(out.bad[0].raw)["spot"] == "high"
