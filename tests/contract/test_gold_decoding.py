"""Gold `levels.signals`: nested payloads flattened to one row per level."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import by_name
from tests.factories import GOLD_CONTRACT

TS = 1_704_164_400_123_456_789
RECV = 1_704_164_401_000_000_001


def level(i: int, **over: Any) -> dict[str, Any]:
    """One level with every nested block."""
    lvl: dict[str, Any] = {
        "id": f"L{i}", "kind": "call_wall", "price": 470.0 + i, "direction": "up",
        "distance": 0.5 * i, "break_score_raw": 0.7, "break_score_smooth": 0.6,
        "signal": "break", "confidence": "HIGH",
        "barrier": {"state": "thin", "delta_liq": -10.0, "replenishment_ratio": 0.3,
                    "added": 5, "canceled": 7, "filled": 2},
        "tape": {"imbalance": 0.2, "buy_vol": 900, "sell_vol": 700, "velocity": 1.5,
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
    assert row["tape_sweep_detected"] is True and row["tape_buy_vol"] == 900
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


I32_MAX, I64_MAX = 2**31 - 1, 2**63 - 1


def test_table_has_exactly_the_contract_columns_and_types(gold: GoldDecoder) -> None:
    table = gold.to_table(gold.decode(enc(payload(2))).events, RECV)
    assert [(f.name, f.type) for f in table.schema] == GOLD_CONTRACT


def test_label_confidence_and_integer_counts_are_stored(gold: GoldDecoder) -> None:
    lvl = level(0, confidence="MEDIUM",
                barrier={"added": I32_MAX, "canceled": -(2**31), "filled": 0},
                tape={"buy_vol": I64_MAX, "sell_vol": 5_000_000_000})
    out = gold.decode(enc(payload(0, levels=[lvl])))
    assert out.bad == []
    row = gold.to_table(out.events, RECV).to_pylist()[0]
    assert row["confidence"] == "MEDIUM"
    assert (row["barrier_added"], row["barrier_canceled"], row["barrier_filled"]) == (
        I32_MAX, -(2**31), 0)
    assert (row["tape_buy_vol"], row["tape_sell_vol"]) == (I64_MAX, 5_000_000_000)


def test_json_integer_is_accepted_for_a_float_column(gold: GoldDecoder) -> None:
    lvl = level(0, price=471, distance=1, break_score_raw=70,
                fuel={"call_wall": 475, "net_dealer_gamma": -1_000_000_000})
    out = gold.decode(enc(payload(0, levels=[lvl], spot=470, bid=469, ask=471)))
    assert out.bad == []
    table = gold.to_table(out.events, RECV)
    row = table.to_pylist()[0]
    assert (row["spot"], row["bid"], row["ask"], row["level_price"]) == (470.0, 469.0, 471.0, 471.0)
    assert row["fuel_call_wall"] == 475.0 and row["fuel_net_dealer_gamma"] == -1e9
    assert all(isinstance(row[c], float) for c in ("spot", "level_price", "break_score_raw"))
    assert table.schema.field("spot").type == pa.float64()


@pytest.mark.parametrize(
    "lvl, over, reason",
    [
        # A fraction cannot be an int32 count.
        (level(0, barrier={"added": 1.5}), {},
         "Expected `int | null`, got `float` - at `$.levels[0].barrier.added`"),
        # A whole float is refused too, as Bronze refuses it: counts are JSON integers.
        (level(0, barrier={"filled": 3.0}), {},
         "Expected `int | null`, got `float` - at `$.levels[0].barrier.filled`"),
        (level(0, barrier={"canceled": I32_MAX + 1}), {},
         "Expected `int` <= 2147483647 - at `$.levels[0].barrier.canceled`"),
        (level(0, barrier={"added": -(2**31) - 1}), {},
         "Expected `int` >= -2147483648 - at `$.levels[0].barrier.added`"),
        (level(0, tape={"sell_vol": I64_MAX + 1}), {},
         "Expected `int` <= 9223372036854775807 - at `$.levels[0].tape.sell_vol`"),
        (level(0, tape={"buy_vol": 12.5}), {},
         "Expected `int | null`, got `float` - at `$.levels[0].tape.buy_vol`"),
        (level(0, barrier={"added": "5"}), {},
         "Expected `int | null`, got `str` - at `$.levels[0].barrier.added`"),
        (level(0, confidence=0.9), {},
         "Expected `str | null`, got `float` - at `$.levels[0].confidence`"),
        (level(0, signal=1), {}, "Expected `str | null`, got `int` - at `$.levels[0].signal`"),
        (level(0, price="470.5"), {}, "Expected `float`, got `str` - at `$.levels[0].price`"),
        (level(0), {"spot": "470.1"}, "Expected `float | null`, got `str` - at `$.spot`"),
    ],
)
def test_lossy_or_mistyped_value_is_quarantined(
    gold: GoldDecoder, lvl: dict[str, Any], over: dict[str, Any], reason: str
) -> None:
    raw = enc(payload(0, levels=[lvl, level(1)], **over))
    out = gold.decode(raw)
    assert out.events == [] and len(out.bad) == 1
    assert out.bad[0].raw == raw
    assert reason in out.bad[0].reason


def test_decoder_never_raises_on_hostile_input(gold: GoldDecoder) -> None:
    """Invalid UTF-8, deep nesting and lone surrogates are reasons, not exceptions."""
    good = enc(payload(1))
    hostile = [
        good.replace(b'"SPY"', b'"\xff\xfe"'),
        b"[" * 100_000 + b"]" * 100_000,
        good.replace(b'"SPY"', b'"\\ud800"'),
        b"[" + good.replace(b'"SPY"', b'"\xc3\x28"') + b"]",
    ]
    for raw in hostile:
        out = gold.decode(raw)
        assert out.events == [] and out.bad, raw[:40]
        assert all(len(bad.reason) <= 400 for bad in out.bad)
