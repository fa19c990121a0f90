"""Wire decoding: JSON messages (one event or an array) into validated rows, never raising."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from lakeconsole.contract.schemas import BRONZE_BODIES, Dataset
from lakeconsole.errors import describe

_INT_BOUNDS = {
    pa.int8(): (-(2**7), 2**7 - 1),
    pa.int16(): (-(2**15), 2**15 - 1),
    pa.int32(): (-(2**31), 2**31 - 1),
    pa.int64(): (-(2**63), 2**63 - 1),
}
# Columns whose values are constrained beyond their Arrow type.
_SPECIAL: dict[str, Any] = {
    "exp_date": Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    "right": Literal["C", "P"],
    "aggressor": Literal[1, -1, 0],
}
_NS = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


def _annotation(name: str, dtype: pa.DataType) -> Any:
    if name in _SPECIAL:
        return _SPECIAL[name]
    if dtype in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[dtype]
        return Annotated[int, msgspec.Meta(ge=lo, le=hi)]
    return {pa.float64(): float, pa.string(): str, pa.bool_(): bool}[dtype]


def _event_struct(schema_id: str, forbid_unknown: bool) -> type[msgspec.Struct]:
    fields: list[Any] = [("ts_event_ns", _NS)]
    fields += [(n, _annotation(n, t)) for n, t in BRONZE_BODIES[schema_id]]
    seq = _annotation("seq", pa.int64())  # bounded: an out-of-range seq must not reach Arrow
    # An explicit null is as good as absent (the bulk path cannot tell them apart).
    fields += [("seq", seq), ("ts_recv_ns", _NS | None, None), ("source", str | None, "nats")]
    return msgspec.defstruct(
        schema_id.replace(".", "_"), fields, forbid_unknown_fields=forbid_unknown
    )


@dataclass
class BadMessage:
    """A message (or one element of a batch) that failed validation, with the reason."""

    raw: bytes
    reason: str


class Decoded:
    """What one message decoded into: good events, bad parts, and ignored extra fields."""

    __slots__ = ("bad", "events", "unknown_fields")

    # A plain slotted class: one is built per message on the hot path.
    def __init__(
        self,
        events: list[Any] | None = None,
        bad: list[BadMessage] | None = None,
        unknown_fields: int = 0,
    ) -> None:
        self.events: list[Any] = [] if events is None else events
        self.bad: list[BadMessage] = [] if bad is None else bad
        self.unknown_fields = unknown_fields

    def __repr__(self) -> str:
        return f"Decoded(events={self.events!r}, bad={self.bad!r}, unknown={self.unknown_fields})"


def not_json(exc: BaseException) -> str:
    """The quarantine reason of a message that does not parse."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8: {describe(exc)}"
    return f"not valid JSON: {describe(exc)}"


def describe_invalid(exc: BaseException) -> str:
    """The quarantine reason of an element that parses but breaks the schema."""
    return str(exc)[:300] if isinstance(exc, msgspec.ValidationError) else describe(exc)


def element_bytes(item: Any, message: bytes) -> bytes:
    """One element of a batch as JSON; the whole message if it cannot be re-encoded."""
    try:
        return msgspec.json.encode(item)
    except Exception:
        return message


class BronzeDecoder:
    """Decodes Bronze wire messages of one dataset; the fast path assumes clean input."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        strict = _event_struct(dataset.schema_id, forbid_unknown=True)
        self._lenient = _event_struct(dataset.schema_id, forbid_unknown=False)
        self._fast = msgspec.json.Decoder(list[strict] | strict)  # type: ignore[valid-type]
        self._known = set(self._lenient.__struct_fields__)
        self._getters = {n: operator.attrgetter(n) for n in self._known}

    def decode(self, data: bytes) -> Decoded:
        """Decode one message; never raises, bad input is returned with a reason."""
        try:
            obj = self._fast.decode(data)
        except Exception:  # any failure (UnicodeDecodeError, RecursionError…): find out why
            return self._decode_slow(data)
        return Decoded(events=obj if isinstance(obj, list) else [obj])

    def _decode_slow(self, data: bytes) -> Decoded:
        """Element by element, so one bad event in a batch does not lose the good ones."""
        try:
            obj = msgspec.json.decode(data)
        except Exception as exc:  # msgspec raises more than DecodeError on hostile input
            return Decoded(bad=[BadMessage(data, not_json(exc))])
        if isinstance(obj, dict):
            return self._convert_all([obj], data, batch=False)
        if isinstance(obj, list):
            return self._convert_all(obj, data, batch=True)
        return Decoded(bad=[BadMessage(data, "expected a JSON object or array of objects")])

    def _convert_all(self, items: list[Any], data: bytes, batch: bool) -> Decoded:
        out = Decoded()
        for i, item in enumerate(items):
            where = f"element {i}: " if batch else ""
            raw = element_bytes(item, data) if batch else data
            if not isinstance(item, dict):
                out.bad.append(BadMessage(raw, f"{where}expected a JSON object"))
                continue
            out.unknown_fields += len(item.keys() - self._known)
            try:
                out.events.append(msgspec.convert(item, self._lenient))
            except Exception as exc:
                out.bad.append(BadMessage(raw, f"{where}{describe_invalid(exc)}"))
        return out

    def to_table(self, events: list[Any], recv_ns: int) -> pa.Table:
        """Columns in schema order; a missing ts_recv_ns becomes the writer's receive time."""
        schema = self.dataset.schema
        if not events:
            return schema.empty_table()
        arrays = [
            pa.array(list(map(self._getters[f.name], events)), type=f.type) for f in schema
        ]
        defaults = {"ts_recv_ns": pa.scalar(recv_ns, pa.int64()), "source": pa.scalar("nats")}
        for name, value in defaults.items():
            i = schema.get_field_index(name)
            if arrays[i].null_count:
                arrays[i] = pc.fill_null(arrays[i], value)
        return pa.Table.from_arrays(arrays, schema=schema)
