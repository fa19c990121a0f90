"""The bulk path for batch messages writes exactly what the exact path writes, bad parts too.

Generated buffers mix single events, compact batches, batches with one bad element and
shapes that only look like batches; each is assembled twice, with the Arrow bulk decoder
and with the per-message exact decoder alone, and the rows (with each row's stream
sequence), the quarantine records and the unknown-field counts must be identical.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from lakeconsole.contract.bulk import BulkDecoder, as_lines, bulk_rows, joined_lines
from lakeconsole.contract.limits import EventLimits
from lakeconsole.contract.schemas import by_name
from lakeconsole.contract.wire import BronzeDecoder, Decoded
from lakeconsole.ingest.buffers import Assembled, Buffer, assemble
from lakeconsole.ingest.messages import Delivery
from tests.ingest.helpers import BASE_NS, trade

SUBJECT = "market.stocks.trades"
DATASET = by_name("stocks.trades")
RECV = BASE_NS + 123
LIMITS = EventLimits(0, 7_258_118_400 * 10**9)  # [1970-01-01, 2200-01-01)
FAR = 9_223_300_000 * 10**9  # beyond the limit: quarantined by the event-time check

# One bad element each: what the exact path rejects (or counts) for its own reason.
BAD_ELEMENTS: dict[str, Any] = {
    "missing field": {"ts_event_ns": BASE_NS, "symbol": "SPY", "price": 1.0, "seq": 1},
    "string for int": {**trade(1, BASE_NS), "size": "7"},
    "float for int": {**trade(1, BASE_NS), "size": 7.5},
    "int32 overflow": {**trade(1, BASE_NS), "size": 2**31},
    "negative time": {**trade(1, BASE_NS), "ts_event_ns": -5},
    "null required": {**trade(1, BASE_NS), "price": None},
    "unknown field": {**trade(1, BASE_NS), "venue": "X"},
    "not an object": 42,
    "far future": trade(1, FAR),
    "symbol with the separator": trade(1, BASE_NS, symbol="A},{B"),
}


def events(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """`n` valid trades with varied symbols, times and optional fields."""
    out = []
    for _ in range(n):
        seq = rng.randrange(10**6)
        extra: dict[str, Any] = {}
        if rng.random() < 0.3:
            extra["ts_recv_ns"] = BASE_NS + rng.randrange(10**9)
        if rng.random() < 0.3:
            extra["source"] = rng.choice(["feed", None])
        symbol = rng.choice(["SPY", "QQQ", "IWM"])
        out.append(trade(seq, BASE_NS + rng.randrange(10**12), symbol=symbol, **extra))
    return out


def message(rng: random.Random) -> bytes:
    """One message of a random shape the bulk path accepts (or must step aside from)."""
    kind = rng.choice(["single", "batch", "batch", "bad batch", "odd batch"])
    if kind == "single":
        return msgspec.json.encode(events(rng, 1)[0])
    items: list[Any] = events(rng, rng.randrange(2, 40))
    if kind == "bad batch":  # inside, so the message still starts and ends like a batch
        bad = BAD_ELEMENTS[rng.choice(sorted(BAD_ELEMENTS))]
        items.insert(rng.randrange(1, len(items)), bad)
    body = msgspec.json.encode(items)
    if kind == "odd batch":
        # Valid JSON with spaces after the commas, or two objects without a comma between.
        body = body.replace(b"},{", rng.choice([b"}, {", b"}{"]), 1)
    return body


def buffer_of(messages: list[bytes]) -> Buffer:
    """A buffer holding `messages` raw, as the writer keeps bulk-path messages."""
    buf = Buffer()
    for seq, data in enumerate(messages, start=1):
        rows = bulk_rows(data)
        assert rows > 0
        buf.add_raw(Delivery(SUBJECT, data, f"$JS.ACK.MARKET.x.1.{seq}.{seq}.0.0", seq, 1), rows)
    return buf


class CountingDecoder(BronzeDecoder):
    """The exact decoder, counting the messages it decodes."""

    def __init__(self) -> None:
        super().__init__(DATASET)
        self.calls = 0

    def decode(self, data: bytes) -> Decoded:
        self.calls += 1
        return super().decode(data)


def both_ways(
    messages: list[bytes], decoder: BronzeDecoder | None = None
) -> tuple[Assembled, Assembled]:
    decoder = decoder or BronzeDecoder(DATASET)
    bulk = assemble(SUBJECT, buffer_of(messages), decoder, BulkDecoder(DATASET), RECV, LIMITS)
    exact = assemble(SUBJECT, buffer_of(messages), decoder, None, RECV, LIMITS)
    return bulk, exact


def rows(out: Assembled) -> pa.Table:
    """The written rows with their stream sequence, in a canonical order."""
    table = out.table.append_column("stream_seq", pa.array(out.stream_seqs, pa.int64()))
    return table.sort_by([(name, "ascending") for name in table.column_names])


def records(out: Assembled) -> list[tuple[int, str, bytes]]:
    return sorted((r.stream_seq, r.reason, r.raw) for r in out.rejects)


@pytest.mark.parametrize("seed", range(12))
def test_bulk_and_exact_paths_write_the_same(seed: int) -> None:
    rng = random.Random(seed)
    messages = [message(rng) for _ in range(rng.randrange(20, 80))]
    bulk, exact = both_ways(messages)
    assert rows(bulk).equals(rows(exact))
    assert bulk.table.schema.equals(DATASET.schema)
    assert records(bulk) == records(exact)
    assert bulk.unknown_fields == exact.unknown_fields
    assert bulk.table.num_rows > 0


def test_one_bad_element_quarantines_only_itself_with_its_reason() -> None:
    good = [msgspec.json.encode([trade(i * 10 + j, BASE_NS + j) for j in range(10)])
            for i in range(50)]
    bad = msgspec.json.encode([trade(900, BASE_NS), BAD_ELEMENTS["string for int"]])
    decoder = CountingDecoder()
    bulk = assemble(SUBJECT, buffer_of([*good[:20], bad, *good[20:]]), decoder,
                    BulkDecoder(DATASET), RECV, LIMITS)
    # Halving isolated the bad message: most messages never met the exact decoder.
    assert 0 < decoder.calls <= 26
    exact = assemble(SUBJECT, buffer_of([*good[:20], bad, *good[20:]]), decoder, None, RECV,
                     LIMITS)
    assert [(r.stream_seq, r.reason[:10]) for r in bulk.rejects] == [(21, "element 1:")]
    assert records(bulk) == records(exact)
    assert bulk.table.num_rows == 501
    written = set(bulk.table.column("seq").to_pylist())
    assert written == {i * 10 + j for i in range(50) for j in range(10)} | {900}


def test_a_clean_flush_is_one_bulk_table() -> None:
    messages = [msgspec.json.encode(events(random.Random(i), 100)) for i in range(20)]
    bulk, exact = both_ways(messages)
    assert bulk.table.num_rows == 2000 and not bulk.rejects
    assert rows(bulk).equals(rows(exact))
    assert bulk.stream_seqs == [s for s in range(1, 21) for _ in range(100)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a":1}', 1),
        (b'[{"a":1}]', 1),
        (b'[{"a":1},{"a":2},{"a":3}]', 3),
        (b'[{"a":1}, {"a":2}]', 1),  # Arrow then fails on the line: the exact path decides
        (b"[]", 0),
        (b'[{"a":\n1}]', 0),
        (b' {"a":1}', 0),
        (b"[1,2]", 0),
    ],
)
def test_bulk_rows_by_shape(data: bytes, expected: int) -> None:
    assert bulk_rows(data) == expected


def test_as_lines_puts_each_element_on_its_own_line() -> None:
    assert as_lines(b'[{"a":1},{"a":2}]') == b'{"a":1}\n{"a":2}'
    assert as_lines(b'{"a":1}') == b'{"a":1}'


def test_joined_lines_splits_array_messages_wherever_they_are() -> None:
    objects = [b'{"a":1}', b'{"a":2}']
    assert joined_lines(objects) == b'{"a":1}\n{"a":2}'
    assert joined_lines([*objects, b'[{"a":3}]']) == b'{"a":1}\n{"a":2}\n{"a":3}'
    assert joined_lines([b'[{"a":0},{"a":1}]', *objects]) == b'{"a":0}\n{"a":1}\n{"a":1}\n{"a":2}'


def test_take_leaves_whole_messages_for_the_next_flush() -> None:
    messages = [msgspec.json.encode(events(random.Random(i), 30)) for i in range(10)]
    buf = buffer_of(messages)
    decoded = Delivery(SUBJECT, b"[decoded on arrival]", "r", 99, 1)
    buf.events.extend(["e1", "e2"])
    buf.event_seqs.extend([99, 99])
    buf.deliveries.insert(3, decoded)
    first = buf.take(100)
    assert len(first) == 92 and first.raw_seqs == [1, 2, 3] and first.events == ["e1", "e2"]
    assert [d.stream_seq for d in first.deliveries] == [1, 2, 3, 99]
    assert len(buf) == 210 and [d.stream_seq for d in buf.deliveries] == list(range(4, 11))
    second = buf.take(10)  # at least one message, even one above the bound
    assert second.raw_seqs == [4] and len(buf) == 180
    buf.restore(second)
    rest = buf.take()
    assert sorted(rest.raw_seqs) == list(range(4, 11)) and len(rest) == 210 and len(buf) == 0
    assert sorted(d.stream_seq for d in rest.deliveries) == list(range(4, 11))
