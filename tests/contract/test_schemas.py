"""Schemas: the exact columns and types of docs/design.md §3, written out here independently."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakeconsole.contract import schemas
from lakeconsole.errors import SchemaError
from tests.factories import GOLD_CONTRACT

HEAD = [("ts_event_ns", pa.int64()), ("ts_recv_ns", pa.int64()), ("source", pa.string())]
TAIL = [("seq", pa.int64())]
F64, I64, I32, I16, I8, S, B = (
    pa.float64(), pa.int64(), pa.int32(), pa.int16(), pa.int8(), pa.string(), pa.bool_()
)
OPTION_ID = [("underlying", S), ("option_symbol", S), ("exp_date", S), ("strike", F64),
             ("right", S)]

BOOK = (
    [(f"bid_px_{i}", F64) for i in range(1, 11)]
    + [(f"bid_sz_{i}", I32) for i in range(1, 11)]
    + [(f"ask_px_{i}", F64) for i in range(1, 11)]
    + [(f"ask_sz_{i}", I32) for i in range(1, 11)]
)

EXPECTED_BRONZE = {
    "stocks.trades": [("symbol", S), ("price", F64), ("size", I32), ("exchange", I16)],
    "stocks.quotes": [("symbol", S), ("bid_px", F64), ("ask_px", F64), ("bid_sz", I32),
                      ("ask_sz", I32), ("bid_exch", I16), ("ask_exch", I16)],
    "options.trades": [*OPTION_ID, ("price", F64), ("size", I32), ("exchange", I16),
                       ("aggressor", I8)],
    "options.greeks": [*OPTION_ID, ("delta", F64), ("gamma", F64), ("theta", F64),
                       ("vega", F64), ("implied_vol", F64), ("open_interest", I64)],
    "futures.trades": [("symbol", S), ("price", F64), ("size", I32), ("aggressor", I8),
                       ("exchange", I16)],
    "futures.mbp10": [("symbol", S), ("is_snapshot", B), *BOOK],
}

REGISTRY = [
    # subject, name, tier, path, partition key
    ("market.stocks.trades", "stocks.trades", "bronze", "stocks/trades", "symbol"),
    ("market.stocks.quotes", "stocks.quotes", "bronze", "stocks/quotes", "symbol"),
    ("market.options.trades", "options.trades", "bronze", "options/trades", "underlying"),
    ("market.options.greeks", "options.greeks", "bronze", "options/greeks_snapshots",
     "underlying"),
    ("market.futures.trades", "futures.trades", "bronze", "futures/trades", "symbol"),
    ("market.futures.mbp10", "futures.mbp10", "bronze", "futures/mbp10", "symbol"),
    ("levels.signals", "levels.signals", "gold", "levels/signals", "underlying"),
]


def columns(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """(name, type) pairs in order."""
    return [(f.name, f.type) for f in schema]


@pytest.mark.parametrize("name", sorted(EXPECTED_BRONZE))
def test_bronze_schema_is_exact(name: str) -> None:
    ds = schemas.by_name(name)
    assert columns(ds.schema) == [*HEAD, *EXPECTED_BRONZE[name], *TAIL]
    assert ds.schema_id == f"{name}.v1"
    assert ds.schema.metadata[b"lakeconsole.schema_id"] == f"{name}.v1".encode()


def test_mbp10_has_forty_book_columns() -> None:
    names = schemas.by_name("futures.mbp10").columns
    assert len([n for n in names if n.startswith(("bid_", "ask_"))]) == 40
    assert names[-1] == "seq" and names[5] == "bid_px_1" and names[-2] == "ask_sz_10"


def test_gold_schema_is_exact() -> None:
    ds = schemas.by_name("levels.signals")
    assert columns(ds.schema) == GOLD_CONTRACT
    assert ds.schema_id == "levels.signals.v1"


@pytest.mark.parametrize("subject, name, tier, path, key", REGISTRY)
def test_registry_by_subject_and_by_name(
    subject: str, name: str, tier: str, path: str, key: str
) -> None:
    ds = schemas.by_subject(subject)
    assert (ds.name, ds.tier, ds.path, ds.partition_key) == (name, tier, path, key)
    assert ds.subject == subject
    assert schemas.by_name(name) is ds
    assert schemas.by_name(f"{name}.v1") is ds  # schema id
    assert schemas.by_name(path) is ds  # storage path


def test_registry_lists() -> None:
    assert len(schemas.bronze_datasets()) == 6
    assert schemas.subjects("gold") == ["levels.signals"]
    assert sorted(schemas.subjects()) == sorted(r[0] for r in REGISTRY)


@pytest.mark.parametrize("subject", ["market.stocks", "market.crypto.trades", "", "levels"])
def test_unknown_subject(subject: str) -> None:
    with pytest.raises(SchemaError, match="unknown subject"):
        schemas.by_subject(subject)


@pytest.mark.parametrize("name", ["stocks.trade", "crypto.trades", "stocks.trades.v2", ""])
def test_unknown_name(name: str) -> None:
    with pytest.raises(SchemaError) as err:
        schemas.by_name(name)
    assert "unknown dataset" in str(err.value) and "stocks.trades" in str(err.value)


def test_sort_columns() -> None:
    for ds in schemas.DATASETS:
        assert ds.sort_columns == ("ts_event_ns", "seq")
