"""Bulk decoding: many messages of one dataset straight into one Arrow table.

Decoding message by message costs a Python call per event on the thread that also reads
the socket, and turning decoded objects into columns costs one per value. Messages that
are one JSON object, or a compact JSON array of objects (`[{…},{…}]`), are therefore kept
raw until their buffer flushes, then parsed together by Arrow's JSON reader (C++, off the
GIL) on the flush thread. This path only vouches for input that is plainly valid; anything
it cannot prove valid is handed back (None) so the per-message decoder gives each bad
message (or element) its precise reason.
"""

from __future__ import annotations

import functools
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from lakeconsole.contract.schemas import Dataset

_OPTIONAL = ("ts_recv_ns", "source")
_DATE = r"^\d{4}-\d{2}-\d{2}$"


_SEP = b"},{"
_LINE_SEP = b"}\n{"


def is_single_object(data: bytes) -> bool:
    """Whether a message can take the bulk path: one JSON object on one line."""
    return data[:1] == b"{" and b"\n" not in data


def bulk_rows(data: bytes) -> int:
    """Events a message brings to the bulk path (by its shape alone), or 0 if it cannot."""
    if b"\n" in data:
        return 0
    if data[:1] == b"{":
        return 1
    if data[:2] == b"[{" and data[-2:] == b"}]":
        return data.count(_SEP) + 1
    return 0


def as_lines(data: bytes) -> bytes:
    """A message `bulk_rows` accepted, as newline-delimited objects (one line per element).

    Splitting at every `},{` is safe: one inside a string leaves a line with an unclosed
    string, one between nested values leaves unbalanced lines; Arrow rejects both. Every
    line starts with `{`, so Arrow reads at least one row from it; `BulkDecoder` demands
    exactly as many rows as lines, so no line can hide a second object either.
    """
    return data if data[:1] == b"{" else data[1:-1].replace(_SEP, _LINE_SEP)


def joined_lines(messages: list[bytes]) -> bytes:
    """Messages `bulk_rows` took, as one block of newline-delimited objects."""
    block = b"\n".join(messages)
    # No message holds a newline, so a line starting with `[` is exactly an array message:
    # one scan of the block spares a Python call per message when there is none.
    if block[:1] == b"[" or b"\n[" in block:
        block = b"\n".join([as_lines(m) for m in messages])
    return block


@functools.cache
def _nats_source() -> pa.Scalar:  # type: ignore[type-arg]
    # Made at the first decode, not at start: pyarrow's first scalar from a Python value
    # imports pandas (its shim), which a service that has not received anything yet
    # should not pay for. The first flush runs on a thread, off the event loop.
    return pa.scalar("nats", pa.string())


class BulkDecoder:
    """Decodes many messages (objects, or arrays as lines) of one dataset into its schema."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._parse = pj.ParseOptions(
            explicit_schema=dataset.schema,
            unexpected_field_behavior="error",  # extras are counted by the per-message path
        )
        # Threads: a flush of a backlog parses its blocks on every core, off the GIL.
        self._read = pj.ReadOptions(use_threads=True, block_size=1 << 20)
        self._required = [n for n in dataset.schema.names if n not in _OPTIONAL]

    def decode(
        self, messages: list[bytes], recv_ns: int, rows: int | None = None
    ) -> pa.Table | None:
        """`rows` rows (default: one per message) from messages `bulk_rows` took, or None.

        None when any message is not plainly valid; `rows` is the sum of their `bulk_rows`.
        """
        expected = len(messages) if rows is None else rows
        if not messages:
            return self.dataset.schema.empty_table()
        try:
            table = pj.read_json(
                pa.BufferReader(joined_lines(messages)),  # type: ignore[arg-type]
                read_options=self._read,
                parse_options=self._parse,
            )
        except Exception:  # anything Arrow cannot prove valid: the exact path decides
            return None
        if table.num_rows != expected or not self._valid(table):
            return None
        return self._fill_defaults(table.select(self.dataset.schema.names), recv_ns)

    def _valid(self, table: pa.Table) -> bool:
        """The checks the per-message decoder makes beyond what Arrow's types enforce."""
        if any(table.column(n).null_count for n in self._required):
            return False
        try:
            table.validate(full=True)  # Arrow's JSON reader lets invalid UTF-8 through
        except pa.ArrowInvalid:
            return False
        for name in ("ts_event_ns", "ts_recv_ns"):
            low = pc.min(table.column(name)).as_py()
            if low is not None and low < 0:
                return False
        names = set(table.column_names)
        checks = []
        if "right" in names:
            checks.append(pc.is_in(table.column("right"), pa.array(["C", "P"])))
        if "aggressor" in names:
            allowed = pa.array([-1, 0, 1], pa.int8())
            checks.append(pc.is_in(table.column("aggressor"), allowed))
        if "exp_date" in names:
            checks.append(pc.match_substring_regex(table.column("exp_date"), _DATE))
        return all(pc.all(check).as_py() for check in checks)

    def _fill_defaults(self, table: pa.Table, recv_ns: int) -> pa.Table:
        schema = self.dataset.schema
        defaults: dict[str, pa.Scalar[Any]] = {
            "ts_recv_ns": pa.scalar(recv_ns, pa.int64()),
            "source": _nats_source(),
        }
        for name, value in defaults.items():
            column = table.column(name)
            if column.null_count:
                filled: pa.ChunkedArray[Any] = pc.fill_null(column, value)  # type: ignore[arg-type]
                table = table.set_column(schema.get_field_index(name), name, filled)
        return table.cast(schema)
