"""Gold `levels.signals`: decode the nested payload and flatten it to one row per level."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.contract.schemas import Dataset
from lakeconsole.contract.wire import BadMessage, Decoded, describe_invalid, element_bytes, not_json

_NS = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
_INT64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# Counts are ints on the wire: a fraction, a float like 3.0 or an out-of-range number is
# refused (quarantined), as Bronze refuses them for its int columns.
_INT32 = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class Barrier(msgspec.Struct, forbid_unknown_fields=True):
    """Liquidity barrier at a level."""

    state: str | None = None
    delta_liq: float | None = None
    replenishment_ratio: float | None = None
    added: _INT32 | None = None
    canceled: _INT32 | None = None
    filled: _INT32 | None = None


class Tape(msgspec.Struct, forbid_unknown_fields=True):
    """Tape (trade flow) near a level."""

    imbalance: float | None = None
    buy_vol: _INT64 | None = None
    sell_vol: _INT64 | None = None
    velocity: float | None = None
    sweep_detected: bool | None = None


class Fuel(msgspec.Struct, forbid_unknown_fields=True):
    """Dealer gamma positioning."""

    effect: str | None = None
    net_dealer_gamma: float | None = None
    call_wall: float | None = None
    put_wall: float | None = None


class Runway(msgspec.Struct, forbid_unknown_fields=True):
    """Room to the next level."""

    direction: str | None = None
    next_level_price: float | None = None
    distance: float | None = None
    quality: str | None = None


class Level(msgspec.Struct, forbid_unknown_fields=True):
    """One price level with its scores and nested blocks."""

    id: str
    kind: str
    price: float
    direction: str | None = None
    distance: float | None = None
    break_score_raw: float | None = None
    break_score_smooth: float | None = None
    signal: str | None = None
    confidence: str | None = None  # a label such as "HIGH"
    barrier: Barrier = msgspec.field(default_factory=Barrier)
    tape: Tape = msgspec.field(default_factory=Tape)
    fuel: Fuel = msgspec.field(default_factory=Fuel)
    runway: Runway = msgspec.field(default_factory=Runway)


class Signals(msgspec.Struct, forbid_unknown_fields=True):
    """One `levels.signals` payload: market context plus its levels."""

    ts_event_ns: _NS
    underlying: str
    levels: list[Level]
    spot: float | None = None
    bid: float | None = None
    ask: float | None = None
    ts_recv_ns: _NS | None = None
    source: str = "nats"
    seq: _INT64 | None = None


_BLOCKS = ("barrier", "tape", "fuel", "runway")
_LEVEL_RENAMES = {"id": "level_id", "kind": "level_kind", "price": "level_price"}


def flatten(payload: Signals) -> list[dict[str, Any]]:
    """One flat row per level; `seq` defaults to the level's index in the payload."""
    context = {
        "ts_event_ns": payload.ts_event_ns,
        "ts_recv_ns": payload.ts_recv_ns,
        "source": payload.source,
        "underlying": payload.underlying,
        "spot": payload.spot,
        "bid": payload.bid,
        "ask": payload.ask,
    }
    rows = []
    for index, level in enumerate(payload.levels):
        row = dict(context)
        for name in level.__struct_fields__:
            value = getattr(level, name)
            if name in _BLOCKS:
                row.update({f"{name}_{k}": getattr(value, k) for k in value.__struct_fields__})
            else:
                row[_LEVEL_RENAMES.get(name, name)] = value
        row["seq"] = payload.seq if payload.seq is not None else index
        rows.append(row)
    return rows


_NESTED: dict[type[msgspec.Struct], dict[str, type[msgspec.Struct]]] = {
    Signals: {"levels": Level},
    Level: {"barrier": Barrier, "tape": Tape, "fuel": Fuel, "runway": Runway},
}


def _prune(item: Any, struct: type[msgspec.Struct]) -> int:
    """Drop (in place) and count keys the payload structs do not know, at every level."""
    if not isinstance(item, dict):
        return 0
    unknown = [k for k in item if k not in struct.__struct_fields__]
    for key in unknown:
        del item[key]
    count = len(unknown)
    for key, child in _NESTED.get(struct, {}).items():
        value = item.get(key)
        children = value if isinstance(value, list) else [value]
        count += sum(_prune(c, child) for c in children)
    return count


class GoldDecoder:
    """Decodes `levels.signals` messages (one payload or an array) into flat rows.

    Unknown fields (at any nesting level) are ignored and counted, as for Bronze.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._decoder = msgspec.json.Decoder(list[Signals] | Signals)

    def decode(self, data: bytes) -> Decoded:
        """Decode one message into flat rows; never raises."""
        try:
            obj = self._decoder.decode(data)
        except Exception:  # any failure (UnicodeDecodeError, RecursionError…): find out why
            return self._decode_slow(data)
        payloads = obj if isinstance(obj, list) else [obj]
        return Decoded(events=[row for p in payloads for row in flatten(p)])

    def _decode_slow(self, data: bytes) -> Decoded:
        try:
            obj = msgspec.json.decode(data)
        except Exception as exc:  # msgspec raises more than DecodeError on hostile input
            return Decoded(bad=[BadMessage(data, not_json(exc))])
        items, batch = (obj, True) if isinstance(obj, list) else ([obj], False)
        out = Decoded()
        for i, item in enumerate(items):
            where = f"element {i}: " if batch else ""
            out.unknown_fields += _prune(item, Signals)
            try:
                out.events.extend(flatten(msgspec.convert(item, Signals)))
            except Exception as exc:
                raw = element_bytes(item, data) if batch else data
                out.bad.append(BadMessage(raw, f"{where}{describe_invalid(exc)}"))
        return out

    def to_table(self, rows: list[dict[str, Any]], recv_ns: int) -> pa.Table:
        """Flat rows as a table of the Gold schema."""
        schema = self.dataset.schema
        if not rows:
            return schema.empty_table()
        table = pa.Table.from_pylist(rows, schema=schema)
        recv = table.column("ts_recv_ns")
        if recv.null_count:
            filled = pc.fill_null(recv, pa.scalar(recv_ns, pa.int64()))
            index = schema.get_field_index("ts_recv_ns")
            table = table.set_column(index, "ts_recv_ns", filled)  # type: ignore[arg-type]
        return table
