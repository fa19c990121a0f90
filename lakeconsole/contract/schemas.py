"""Arrow schemas of every tier and the registry that maps subjects to datasets."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from lakeconsole.contract.tiers import Tier
from lakeconsole.errors import SchemaError

Columns = list[tuple[str, pa.DataType]]

HEAD: Columns = [("ts_event_ns", pa.int64()), ("ts_recv_ns", pa.int64()), ("source", pa.string())]
TAIL: Columns = [("seq", pa.int64())]

_OPTION_ID: Columns = [
    ("underlying", pa.string()),
    ("option_symbol", pa.string()),
    ("exp_date", pa.string()),
    ("strike", pa.float64()),
    ("right", pa.string()),
]


def _book_side(side: str) -> Columns:
    return [(f"{side}_px_{i}", pa.float64()) for i in range(1, 11)] + [
        (f"{side}_sz_{i}", pa.int32()) for i in range(1, 11)
    ]


# The dataset-specific columns between HEAD and TAIL, exactly as in docs/design.md §3.
BRONZE_BODIES: dict[str, Columns] = {
    "stocks.trades.v1": [
        ("symbol", pa.string()),
        ("price", pa.float64()),
        ("size", pa.int32()),
        ("exchange", pa.int16()),
    ],
    "stocks.quotes.v1": [
        ("symbol", pa.string()),
        ("bid_px", pa.float64()),
        ("ask_px", pa.float64()),
        ("bid_sz", pa.int32()),
        ("ask_sz", pa.int32()),
        ("bid_exch", pa.int16()),
        ("ask_exch", pa.int16()),
    ],
    "options.trades.v1": [
        *_OPTION_ID,
        ("price", pa.float64()),
        ("size", pa.int32()),
        ("exchange", pa.int16()),
        ("aggressor", pa.int8()),
    ],
    "options.greeks.v1": [
        *_OPTION_ID,
        ("delta", pa.float64()),
        ("gamma", pa.float64()),
        ("theta", pa.float64()),
        ("vega", pa.float64()),
        ("implied_vol", pa.float64()),
        ("open_interest", pa.int64()),
    ],
    "futures.trades.v1": [
        ("symbol", pa.string()),
        ("price", pa.float64()),
        ("size", pa.int32()),
        ("aggressor", pa.int8()),
        ("exchange", pa.int16()),
    ],
    "futures.mbp10.v1": [
        ("symbol", pa.string()),
        ("is_snapshot", pa.bool_()),
        *_book_side("bid"),
        *_book_side("ask"),
    ],
}

# Gold levels.signals.v1: one row per level, nested blocks flattened with a prefix, in the
# column order of docs/design.md §3 (unlike Bronze, ts_recv_ns and source come last).
# Gold files written before this contract hold float64 counts and a float64 `confidence`;
# readers open Gold with this schema, so Arrow's safe cast converts them (whole floats to
# ints, numbers to text) and fails rather than change a value.
GOLD_CONTEXT: Columns = [
    ("ts_event_ns", pa.int64()),
    ("underlying", pa.string()),
    ("spot", pa.float64()),
    ("bid", pa.float64()),
    ("ask", pa.float64()),
]
GOLD_LEVEL: Columns = [
    ("level_id", pa.string()),
    ("level_kind", pa.string()),
    ("level_price", pa.float64()),
    ("direction", pa.string()),
    ("distance", pa.float64()),
    ("break_score_raw", pa.float64()),
    ("break_score_smooth", pa.float64()),
    ("signal", pa.string()),
    ("confidence", pa.string()),
]
GOLD_BLOCKS: dict[str, Columns] = {
    "barrier": [
        ("state", pa.string()),
        ("delta_liq", pa.float64()),
        ("replenishment_ratio", pa.float64()),
        ("added", pa.int32()),
        ("canceled", pa.int32()),
        ("filled", pa.int32()),
    ],
    "tape": [
        ("imbalance", pa.float64()),
        ("buy_vol", pa.int64()),
        ("sell_vol", pa.int64()),
        ("velocity", pa.float64()),
        ("sweep_detected", pa.bool_()),
    ],
    "fuel": [
        ("effect", pa.string()),
        ("net_dealer_gamma", pa.float64()),
        ("call_wall", pa.float64()),
        ("put_wall", pa.float64()),
    ],
    "runway": [
        ("direction", pa.string()),
        ("next_level_price", pa.float64()),
        ("distance", pa.float64()),
        ("quality", pa.string()),
    ],
}
GOLD_TAIL: Columns = [("ts_recv_ns", pa.int64()), ("source", pa.string()), *TAIL]


def _gold_fields() -> Columns:
    blocks: Columns = [(f"{b}_{n}", t) for b, cols in GOLD_BLOCKS.items() for n, t in cols]
    return [*GOLD_CONTEXT, *GOLD_LEVEL, *blocks, *GOLD_TAIL]


def _schema(fields: Columns, schema_id: str) -> pa.Schema:
    return pa.schema(fields, metadata={b"lakeconsole.schema_id": schema_id.encode()})


@dataclass(frozen=True)
class Dataset:
    """One dataset of the lake: where its subject lands and how its rows are keyed."""

    subject: str
    tier: Tier  # where ingest writes it: bronze or gold
    path: str
    partition_key: str
    schema_id: str
    schema: pa.Schema
    dedup_columns: tuple[str, ...]
    sort_columns: tuple[str, ...] = ("ts_event_ns", "seq")

    @property
    def name(self) -> str:
        """Short name used on the command line, e.g. `stocks.trades`."""
        return self.schema_id.rsplit(".", 1)[0]

    @property
    def columns(self) -> list[str]:
        """Column names in schema order."""
        return list(self.schema.names)

    @property
    def tiers(self) -> tuple[Tier, ...]:
        """The tiers that hold this dataset: Bronze datasets are compacted into Silver."""
        return ("gold",) if self.tier == "gold" else ("bronze", "silver")


def _bronze(subject: str, path: str, key: str, schema_id: str, ident: tuple[str, ...]) -> Dataset:
    fields: Columns = [*HEAD, *BRONZE_BODIES[schema_id], *TAIL]
    dedup = ("source", "ts_event_ns", *ident, "seq")
    return Dataset(subject, "bronze", path, key, schema_id, _schema(fields, schema_id), dedup)


_TRADE_ID = ("price", "size")

DATASETS: tuple[Dataset, ...] = (
    _bronze("market.stocks.trades", "stocks/trades", "symbol", "stocks.trades.v1",
            ("symbol", *_TRADE_ID)),
    _bronze("market.stocks.quotes", "stocks/quotes", "symbol", "stocks.quotes.v1",
            ("symbol", "bid_px", "ask_px", "bid_sz", "ask_sz")),
    _bronze("market.options.trades", "options/trades", "underlying", "options.trades.v1",
            ("option_symbol", *_TRADE_ID)),
    _bronze("market.options.greeks", "options/greeks_snapshots", "underlying",
            "options.greeks.v1", ("option_symbol",)),
    _bronze("market.futures.trades", "futures/trades", "symbol", "futures.trades.v1",
            ("symbol", *_TRADE_ID)),
    _bronze("market.futures.mbp10", "futures/mbp10", "symbol", "futures.mbp10.v1",
            ("symbol", "is_snapshot")),
    Dataset(
        subject="levels.signals",
        tier="gold",
        path="levels/signals",
        partition_key="underlying",
        schema_id="levels.signals.v1",
        schema=_schema(_gold_fields(), "levels.signals.v1"),
        dedup_columns=("source", "ts_event_ns", "underlying", "level_id", "seq"),
    ),
)

_BY_SUBJECT = {d.subject: d for d in DATASETS}
_BY_NAME = {d.name: d for d in DATASETS}


def by_subject(subject: str) -> Dataset:
    """The dataset a NATS subject feeds; SchemaError if none."""
    try:
        return _BY_SUBJECT[subject]
    except KeyError:
        raise SchemaError(f"unknown subject {subject!r}") from None


def by_name(name: str) -> Dataset:
    """Look a dataset up by short name (`stocks.trades`), schema id or path."""
    for candidate in (name, name.removesuffix(".v1"), name.replace("/", ".")):
        if candidate in _BY_NAME:
            return _BY_NAME[candidate]
    for d in DATASETS:
        if name in (d.path, d.schema_id):
            return d
    known = ", ".join(sorted(_BY_NAME))
    raise SchemaError(f"unknown dataset {name!r}; known: {known}")


def bronze_datasets() -> list[Dataset]:
    """The six Bronze datasets."""
    return [d for d in DATASETS if d.tier == "bronze"]


def gold_datasets() -> list[Dataset]:
    """The Gold datasets (levels.signals)."""
    return [d for d in DATASETS if d.tier == "gold"]


def subjects(tier: Tier | None = None) -> list[str]:
    """All subjects, or those of one tier."""
    return [d.subject for d in DATASETS if tier is None or d.tier == tier]
