"""Bronze wire decoding: one object or an array; bad input returned with a reason, never raised."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.contract.wire import BronzeDecoder

TS = 1_704_164_400_123_456_789  # 2024-01-02 03:00:00.123456789 UTC
RECV = 1_704_164_400_999_999_999


def trade(**over: Any) -> dict[str, Any]:
    """A valid stocks.trades event."""
    event = {"ts_event_ns": TS, "ts_recv_ns": TS + 5, "source": "feed-a", "symbol": "SPY",
             "price": 470.25, "size": 100, "exchange": 4, "seq": 1}
    event.update(over)
    return {k: v for k, v in event.items() if v is not ...}


def option(**over: Any) -> dict[str, Any]:
    """A valid options.trades event."""
    event = {"ts_event_ns": TS, "underlying": "SPY", "option_symbol": "SPY240119C00470000",
             "exp_date": "2024-01-19", "strike": 470.0, "right": "C", "price": 3.2,
             "size": 10, "exchange": 7, "aggressor": 1, "seq": 9}
    event.update(over)
    return event


def enc(obj: Any) -> bytes:
    """JSON bytes."""
    return json.dumps(obj).encode()


@pytest.fixture
def trades() -> BronzeDecoder:
    """Decoder of stocks.trades."""
    return BronzeDecoder(by_name("stocks.trades"))


@pytest.fixture
def options() -> BronzeDecoder:
    """Decoder of options.trades."""
    return BronzeDecoder(by_name("options.trades"))


def test_single_object(trades: BronzeDecoder) -> None:
    out = trades.decode(enc(trade()))
    assert (len(out.events), out.bad, out.unknown_fields) == (1, [], 0)
    table = trades.to_table(out.events, RECV)
    assert table.schema == by_name("stocks.trades").schema
    assert table.to_pylist() == [trade()]


def test_batch_array(trades: BronzeDecoder) -> None:
    batch = [trade(seq=i, price=470.0 + i) for i in range(5)]
    out = trades.decode(enc(batch))
    assert len(out.events) == 5 and out.bad == []
    table = trades.to_table(out.events, RECV)
    assert table.column("seq").to_pylist() == [0, 1, 2, 3, 4]
    assert table.column("price").to_pylist() == [470.0, 471.0, 472.0, 473.0, 474.0]


def test_empty_batch(trades: BronzeDecoder) -> None:
    out = trades.decode(b"[]")
    assert out.events == [] and out.bad == []
    assert trades.to_table(out.events, RECV).num_rows == 0


def test_missing_ts_recv_is_stamped_and_source_defaults(trades: BronzeDecoder) -> None:
    events = [trade(ts_recv_ns=..., source=...), trade(seq=2)]
    table = trades.to_table(trades.decode(enc(events)).events, RECV)
    assert table.column("ts_recv_ns").to_pylist() == [RECV, TS + 5]
    assert table.column("source").to_pylist() == ["nats", "feed-a"]


def test_null_ts_recv_is_stamped(trades: BronzeDecoder) -> None:
    table = trades.to_table(trades.decode(enc(trade(ts_recv_ns=None))).events, RECV)
    assert table.column("ts_recv_ns").to_pylist() == [RECV]


def test_int_price_is_accepted_as_float(trades: BronzeDecoder) -> None:
    table = trades.to_table(trades.decode(enc(trade(price=470))).events, RECV)
    assert table.column("price").type == pa.float64()
    assert table.column("price").to_pylist() == [470.0]


def test_unknown_fields_ignored_and_counted(trades: BronzeDecoder) -> None:
    batch = [trade(venue="X", flags=3), trade(seq=2, note="n")]
    out = trades.decode(enc(batch))
    assert len(out.events) == 2 and out.bad == []
    assert out.unknown_fields == 3
    table = trades.to_table(out.events, RECV)
    assert "venue" not in table.column_names and table.num_rows == 2


def test_nanoseconds_survive_exactly(trades: BronzeDecoder) -> None:
    ts = 1_704_164_400_123_456_789
    table = trades.to_table(trades.decode(enc(trade(ts_event_ns=ts))).events, RECV)
    assert table.column("ts_event_ns").to_pylist() == [ts]


BAD_TRADES = [
    (b"not json", "not valid JSON"),
    (b"\xff\xfe{", "not valid JSON"),
    (b"42", "expected a JSON object or array"),
    (b'"text"', "expected a JSON object or array"),
    (enc({k: v for k, v in trade().items() if k != "price"}), "missing required field `price`"),
    (enc({k: v for k, v in trade().items() if k != "seq"}), "missing required field `seq`"),
    (enc(trade(price="470.25")), "Expected `float`, got `str` - at `$.price`"),
    (enc(trade(size=2**31)), "at `$.size`"),
    (enc(trade(size=-(2**31) - 1)), "at `$.size`"),
    (enc(trade(size=1.5)), "Expected `int`, got `float` - at `$.size`"),
    (enc(trade(exchange=40_000)), "at `$.exchange`"),
    (enc(trade(ts_event_ns=-1)), "at `$.ts_event_ns`"),
    (enc(trade(ts_event_ns=2**63)), "at `$.ts_event_ns`"),
    (enc(trade(seq=2**63)), "at `$.seq`"),
    (enc(trade(symbol=None)), "at `$.symbol`"),
]


@pytest.mark.parametrize("raw, reason", BAD_TRADES)
def test_bad_message_has_a_reason(trades: BronzeDecoder, raw: bytes, reason: str) -> None:
    out = trades.decode(raw)
    assert out.events == []
    assert len(out.bad) == 1
    assert out.bad[0].raw == raw
    assert reason in out.bad[0].reason


@pytest.mark.parametrize(
    "over, where",
    [
        ({"exp_date": "19/01/2024"}, "$.exp_date"),
        ({"exp_date": 20240119}, "$.exp_date"),
        ({"right": "X"}, "$.right"),
        ({"right": "c"}, "$.right"),
        ({"aggressor": 2}, "$.aggressor"),
        ({"size": 3_000_000_000}, "$.size"),
    ],
)
def test_bad_option_fields(options: BronzeDecoder, over: dict[str, Any], where: str) -> None:
    out = options.decode(enc(option(**over)))
    assert out.events == [] and len(out.bad) == 1
    assert where in out.bad[0].reason


def test_valid_option_values(options: BronzeDecoder) -> None:
    batch = [option(right="P", aggressor=-1), option(right="C", aggressor=0, seq=10)]
    out = options.decode(enc(batch))
    assert out.bad == []
    table = options.to_table(out.events, RECV)
    assert table.column("right").to_pylist() == ["P", "C"]
    assert table.column("aggressor").type == pa.int8()
    assert table.column("aggressor").to_pylist() == [-1, 0]


def test_bad_element_does_not_lose_the_good_ones(trades: BronzeDecoder) -> None:
    batch = [trade(seq=1), trade(seq=2, size="big"), 7, trade(seq=4, extra=1), trade(seq=5)]
    out = trades.decode(enc(batch))
    table = trades.to_table(out.events, RECV)
    assert table.column("seq").to_pylist() == [1, 4, 5]
    assert [b.reason.split(":")[0] for b in out.bad] == ["element 1", "element 2"]
    assert "$.size" in out.bad[0].reason
    assert "expected a JSON object" in out.bad[1].reason
    assert json.loads(out.bad[0].raw)["seq"] == 2  # the bad element's own bytes
    assert out.unknown_fields == 1


def test_mbp10_book(trades: BronzeDecoder) -> None:
    decoder = BronzeDecoder(by_name("futures.mbp10"))
    event: dict[str, Any] = {"ts_event_ns": TS, "symbol": "ESH4", "is_snapshot": True, "seq": 3}
    for i in range(1, 11):
        event |= {f"bid_px_{i}": 4800.0 - i, f"bid_sz_{i}": i, f"ask_px_{i}": 4800.0 + i,
                  f"ask_sz_{i}": 10 * i}
    out = decoder.decode(enc(event))
    assert out.bad == []
    row = decoder.to_table(out.events, RECV).to_pylist()[0]
    assert (row["bid_px_10"], row["ask_sz_10"], row["is_snapshot"]) == (4790.0, 100, True)
    del event["ask_sz_7"]
    assert "ask_sz_7" in decoder.decode(enc(event)).bad[0].reason


def test_decoder_never_raises_on_garbage(trades: BronzeDecoder) -> None:
    garbage = [b"", b"[", b"{}", b"[[]]", b"null", b"[null]", b"{\"a\":}", bytes(range(256)),
               b"[" * 100_000 + b"]" * 100_000, b'{"symbol": "\xc3\x28"}', b'["\\ud800"]']
    for raw in garbage:
        out = trades.decode(raw)
        assert out.events == [] and out.bad, raw
        assert all(len(bad.reason) <= 400 for bad in out.bad)
