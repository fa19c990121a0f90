"""Gold files written before the contract was fixed (float64 counts and confidence) still read
in the contract's types, through LakeReader and through SQL, on local disk and S3."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import by_name
from lakeconsole.errors import QueryError
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import GoldReader, LakeReader
from lakeconsole.query.sql import LakeSQL
from tests.factories import DAY, DAY_NS, GOLD_CONTRACT, HOUR_NS, write

GOLD = by_name("levels.signals")
T0 = DAY_NS + 3 * HOUR_NS + 1_000  # 2024-01-02T03:00Z, the hour=03 directory below
HOUR_DIR = f"gold/levels/signals/underlying=SPY/date={DAY}/hour=03"
F64, I64, S, B = pa.float64(), pa.int64(), pa.string(), pa.bool_()

# The Gold schema the writers used before: Bronze-like head, every number float64.
OLD_SCHEMA = pa.schema([
    ("ts_event_ns", I64), ("ts_recv_ns", I64), ("source", S),
    ("underlying", S), ("spot", F64), ("bid", F64), ("ask", F64),
    ("level_id", S), ("level_kind", S), ("level_price", F64), ("direction", S),
    ("distance", F64), ("break_score_raw", F64), ("break_score_smooth", F64),
    ("signal", S), ("confidence", F64),
    ("barrier_state", S), ("barrier_delta_liq", F64), ("barrier_replenishment_ratio", F64),
    ("barrier_added", F64), ("barrier_canceled", F64), ("barrier_filled", F64),
    ("tape_imbalance", F64), ("tape_buy_vol", F64), ("tape_sell_vol", F64),
    ("tape_velocity", F64), ("tape_sweep_detected", B),
    ("fuel_effect", S), ("fuel_net_dealer_gamma", F64), ("fuel_call_wall", F64),
    ("fuel_put_wall", F64),
    ("runway_direction", S), ("runway_next_level_price", F64), ("runway_distance", F64),
    ("runway_quality", S),
    ("seq", I64),
])


def old_table(**over: list[Any]) -> pa.Table:
    """Two rows as the old writer stored them; `over` replaces whole columns."""
    cols: dict[str, list[Any]] = {f.name: [None, None] for f in OLD_SCHEMA}
    cols.update({
        "ts_event_ns": [T0, T0 + 10], "ts_recv_ns": [T0 + 5, T0 + 15], "source": ["old"] * 2,
        "underlying": ["SPY"] * 2, "spot": [470.0, 470.5], "level_id": ["L0", "L1"],
        "level_kind": ["vwap", "pdh"], "level_price": [469.0, 472.0], "confidence": [0.8, 1.0],
        "barrier_added": [5.0, 0.0], "barrier_canceled": [7.0, 2.0], "barrier_filled": [2.0, 1.0],
        "tape_buy_vol": [900.0, 1e10], "tape_sell_vol": [700.0, 3.0], "seq": [0, 1],
    })
    cols.update(over)
    return pa.Table.from_pydict(cols, schema=OLD_SCHEMA)


def put_old(lake: Storage, table: pa.Table, name: str = "part-030000_000000.parquet") -> None:
    """Store an old-typed file where the old Gold writer put it."""
    sink = io.BytesIO()
    pq.write_table(table, sink)
    lake.write_atomic(f"{HOUR_DIR}/{name}", sink.getvalue())


def put_new(lake: Storage) -> None:
    """One contract-typed row, later in the same hour, through the real decoder and writer."""
    decoder = GoldDecoder(GOLD)
    level = {"id": "L2", "kind": "call_wall", "price": 475.0, "confidence": "HIGH",
             "barrier": {"added": 11, "canceled": 12, "filled": 13},
             "tape": {"buy_vol": 2**40, "sell_vol": 4}}
    payload = {"ts_event_ns": T0 + 20, "underlying": "SPY", "spot": 471.0, "seq": 2,
               "levels": [level]}
    out = decoder.decode(json.dumps(payload).encode())
    assert out.bad == []
    write(lake, decoder.to_table(out.events, T0 + 25), GOLD)


EXPECTED = {
    "ts_event_ns": [T0, T0 + 10, T0 + 20],
    "ts_recv_ns": [T0 + 5, T0 + 15, T0 + 25],
    "confidence": ["0.8", "1", "HIGH"],  # Arrow's float-to-text cast, in every read path
    "barrier_added": [5, 0, 11],
    "barrier_canceled": [7, 2, 12],
    "barrier_filled": [2, 1, 13],
    "tape_buy_vol": [900, 10_000_000_000, 2**40],
    "tape_sell_vol": [700, 3, 4],
    "spot": [470.0, 470.5, 471.0],
    "source": ["old", "old", "nats"],
}


def check(table: pa.Table) -> None:
    """Contract columns, order and types, with the old values converted without loss."""
    assert [(f.name, f.type) for f in table.schema] == GOLD_CONTRACT
    for name, values in EXPECTED.items():
        assert table.column(name).to_pylist() == values, name


def test_reader_returns_contract_types_for_old_and_new_files(lake: Storage) -> None:
    put_old(lake, old_table())
    put_new(lake)
    check(LakeReader(lake).read_arrow("gold", GOLD, "SPY", DAY))
    df = GoldReader(lake).read_level_signals("SPY", DAY)
    assert list(df.columns) == [name for name, _ in GOLD_CONTRACT]
    assert df["confidence"].tolist() == EXPECTED["confidence"]
    assert str(df["barrier_added"].dtype) == "int32" and str(df["tape_buy_vol"].dtype) == "int64"
    assert df["tape_buy_vol"].tolist() == EXPECTED["tape_buy_vol"]


def test_reader_projection_and_time_filter_over_an_old_file(lake: Storage) -> None:
    put_old(lake, old_table())
    table = LakeReader(lake).read_arrow(
        "gold", GOLD, "SPY", DAY, start_ns=T0 + 1, columns=["confidence", "barrier_added"])
    assert table.schema == pa.schema([("confidence", S), ("barrier_added", pa.int32())])
    assert table.to_pylist() == [{"confidence": "1", "barrier_added": 0}]


def test_sql_view_returns_contract_types_for_old_and_new_files(lake: Storage) -> None:
    put_old(lake, old_table())
    put_new(lake)
    table = LakeSQL(lake).query("SELECT * FROM gold_levels_signals ORDER BY ts_event_ns")
    check(table)
    types = LakeSQL(lake).query(
        "SELECT DISTINCT typeof(confidence) AS c, typeof(barrier_added) AS a, "
        "typeof(tape_buy_vol) AS v FROM gold_levels_signals")
    assert types.to_pylist() == [{"c": "VARCHAR", "a": "INTEGER", "v": "BIGINT"}]


def test_old_file_with_a_fraction_in_a_count_fails_loudly(lake: Storage) -> None:
    # A count of 1.5 has no int32 value: reading must fail rather than round or drop it.
    put_old(lake, old_table(barrier_added=[5.0, 1.5]))
    with pytest.raises(Exception, match="truncated converting to int32"):
        LakeReader(lake).read_arrow("gold", GOLD, "SPY", DAY)
    with pytest.raises(QueryError, match="truncated converting to int32"):
        LakeSQL(lake).query("SELECT barrier_added FROM gold_levels_signals")
