"""The bulk (Arrow JSON) path must agree with the per-message decoder, or step aside."""

from __future__ import annotations

import msgspec
import pytest

from lakeconsole.contract.bulk import BulkDecoder, is_single_object
from lakeconsole.contract.schemas import bronze_datasets, by_name
from lakeconsole.contract.wire import BronzeDecoder
from lakeconsole.demo.feed import DemoFeed

RECV = 1_767_225_600_000_000_123
MAKERS = {
    "stocks.trades": "stock_trade",
    "stocks.quotes": "stock_quote",
    "options.trades": "option_trade",
    "options.greeks": "option_greeks",
    "futures.trades": "futures_trade",
    "futures.mbp10": "futures_book",
}


def messages(name: str, n: int = 50) -> list[bytes]:
    feed = DemoFeed(seed=3)
    make = getattr(feed, MAKERS[name])
    return [msgspec.json.encode(make()) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_bulk_equals_per_message_decoding(name: str) -> None:
    """Same rows, same types, same order as decoding each message with msgspec."""
    ds = by_name(name)
    raw = messages(name)
    bulk = BulkDecoder(ds).decode(raw, RECV)
    one = BronzeDecoder(ds)
    expected = one.to_table([e for m in raw for e in one.decode(m).events], RECV)
    assert bulk is not None
    assert bulk.schema.equals(ds.schema)
    assert bulk.equals(expected)


def test_every_bronze_dataset_has_a_maker() -> None:
    assert {d.name for d in bronze_datasets()} == set(MAKERS)


def test_defaults_filled_like_the_wire_decoder() -> None:
    """No ts_recv_ns: the receive time; no source: "nats"."""
    event = {"ts_event_ns": 5, "symbol": "SPY", "price": 1.5, "size": 2, "exchange": 3, "seq": 9}
    table = BulkDecoder(by_name("stocks.trades")).decode([msgspec.json.encode(event)], RECV)
    assert table is not None
    assert table.column("ts_recv_ns").to_pylist() == [RECV]
    assert table.column("source").to_pylist() == ["nats"]


BAD = {
    "not json": b"{nope",
    "missing field": b'{"ts_event_ns":1,"symbol":"SPY","price":1.0,"exchange":1,"seq":1}',
    "null field": b'{"ts_event_ns":1,"symbol":"SPY","price":1.0,"size":null,"exchange":1,"seq":1}',
    "string for int": b'{"ts_event_ns":1,"symbol":"SPY","price":1.0,"size":"1","exchange":1,'
                      b'"seq":1}',
    "int32 overflow": b'{"ts_event_ns":1,"symbol":"SPY","price":1.0,"size":3000000000,'
                      b'"exchange":1,"seq":1}',
    "negative ts": b'{"ts_event_ns":-1,"symbol":"SPY","price":1.0,"size":1,"exchange":1,"seq":1}',
    "unknown field": b'{"ts_event_ns":1,"symbol":"SPY","price":1.0,"size":1,"exchange":1,'
                     b'"seq":1,"extra":true}',
    "invalid UTF-8": b'{"ts_event_ns":1,"symbol":"\xff\xfe","price":1.0,"size":1,"exchange":1,'
                     b'"seq":1}',
    "two objects": b'{"ts_event_ns":1,"symbol":"SPY","price":1.0,"size":1,"exchange":1,"seq":1}'
                   b'{"ts_event_ns":1,"symbol":"SPY","price":1.0,"size":1,"exchange":1,"seq":1}',
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_one_bad_message_sends_the_batch_to_the_exact_path(kind: str) -> None:
    """Anything the per-message decoder would reject (or count) makes bulk return None."""
    raw = [*messages("stocks.trades", 5), BAD[kind]]
    assert BulkDecoder(by_name("stocks.trades")).decode(raw, RECV) is None
    per_message = BronzeDecoder(by_name("stocks.trades")).decode(BAD[kind])
    assert per_message.bad or per_message.unknown_fields or len(per_message.events) != 1


@pytest.mark.parametrize(
    ("field", "value"), [("right", "X"), ("aggressor", 2), ("exp_date", "27/11/2026")]
)
def test_option_constraints_checked(field: str, value: object) -> None:
    """Values Arrow's types accept but the contract does not: bulk steps aside."""
    event = msgspec.json.decode(messages("options.trades", 1)[0])
    event[field] = value
    raw = [msgspec.json.encode(event)]
    assert BulkDecoder(by_name("options.trades")).decode(raw, RECV) is None
    assert BronzeDecoder(by_name("options.trades")).decode(raw[0]).bad


def test_only_single_line_objects_take_the_bulk_path() -> None:
    assert is_single_object(b'{"a":1}')
    assert not is_single_object(b'[{"a":1}]')
    assert not is_single_object(b'{"a":\n1}')
    assert not is_single_object(b" {}")


def test_null_source_is_the_default_on_both_paths() -> None:
    """An explicit null source means "nats" whichever path decodes the message."""
    event = {"ts_event_ns": 5, "symbol": "SPY", "price": 1.5, "size": 2, "exchange": 3,
             "seq": 9, "source": None}
    raw = msgspec.json.encode(event)
    ds = by_name("stocks.trades")
    bulk = BulkDecoder(ds).decode([raw], RECV)
    decoder = BronzeDecoder(ds)
    exact = decoder.to_table(decoder.decode(raw).events, RECV)
    assert bulk is not None and bulk.column("source").to_pylist() == ["nats"]
    assert exact.column("source").to_pylist() == ["nats"]
