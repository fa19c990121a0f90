"""describe_file on real lake files: row groups, times, compression, stream-sequence range."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake.parquet import encode
from lakeconsole.lake.storage import Storage
from lakeconsole.query.catalog import list_children
from lakeconsole.query.inspect import describe_file
from lakeconsole.query.quarantine import hex_dump, pretty_payload, reason_kind
from tests.factories import BASE_NS, quarantine, rows, trades, write


def test_a_bronze_file_as_the_writer_left_it(lake: Storage) -> None:
    """One Bronze file: rows, one row group with min/max event time, ZSTD, seq range."""
    table = trades(50, "SPY", BASE_NS + 1_000, step_ns=10)
    (written,) = write(lake, table)
    detail = describe_file(lake, written.path)
    assert detail.rows == 50 and detail.size == written.bytes
    assert detail.compression == "ZSTD"
    assert detail.time_column == "ts_event_ns"
    assert [(g.rows, g.min_ns, g.max_ns) for g in detail.row_groups] == [
        (50, BASE_NS + 1_000, BASE_NS + 1_000 + 49 * 10)]
    assert detail.time_range == (BASE_NS + 1_000, BASE_NS + 1_490)
    assert detail.stream_seqs == (0, 49)  # the factory's stream sequences are the row indexes
    meta = dict(detail.metadata)
    assert meta["lakeconsole.schema_id"] == "stocks.trades.v1"
    assert meta["lakeconsole.rows"] == "50"
    assert "ARROW:schema" not in meta
    names = [c.name for c in detail.columns]
    assert names == by_name("stocks.trades").schema.names
    ts = next(c for c in detail.columns if c.name == "ts_event_ns")
    assert (ts.type, ts.physical, ts.compression) == ("int64", "INT64", "ZSTD")


def test_several_row_groups_each_with_their_own_range(local_lake: Storage) -> None:
    """A file of three row groups: each one's rows and times from its statistics."""
    ds = by_name("stocks.trades")
    table = trades(30, "SPY", BASE_NS, step_ns=100)
    data = encode(table, ds, seq_range=(7, 9))
    path = "bronze/stocks/trades/symbol=SPY/date=2026-01-01/hour=00/part-x.parquet"
    sink = pa.BufferOutputStream()  # rewritten with small row groups, metadata kept
    pq.write_table(pq.read_table(pa.BufferReader(data)), sink, row_group_size=10,
                   compression="zstd")
    local_lake.write_atomic(path, sink.getvalue().to_pybytes())
    detail = describe_file(local_lake, path)
    assert [(g.index, g.rows, g.min_ns, g.max_ns) for g in detail.row_groups] == [
        (0, 10, BASE_NS, BASE_NS + 900), (1, 10, BASE_NS + 1_000, BASE_NS + 1_900),
        (2, 10, BASE_NS + 2_000, BASE_NS + 2_900)]
    assert detail.stream_seqs == (7, 9)


def test_a_quarantine_file_shows_its_receive_times(local_lake: Storage) -> None:
    """Quarantine files have no event time: the row groups show received_ns."""
    (path,) = quarantine(local_lake, 3)
    detail = describe_file(local_lake, path)
    assert detail.time_column == "received_ns" and detail.rows == 3
    assert detail.row_groups[0].min_ns == BASE_NS and detail.stream_seqs is None


def test_a_missing_file_is_file_not_found(local_lake: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        describe_file(local_lake, "bronze/stocks/trades/nope.parquet")


def test_tiers_come_in_their_natural_order(local_lake: Storage) -> None:
    """bronze, silver, gold, quarantine: not alphabetical."""
    quarantine(local_lake)
    write(local_lake, trades(4), tier="silver")
    write(local_lake, trades(4))
    gold = by_name("levels.signals")
    write(local_lake, rows(gold, {"ts_event_ns": [BASE_NS], "underlying": ["SPY"], "seq": [1]}),
          gold)
    assert [n.name for n in list_children(local_lake, "")] == [
        "bronze", "silver", "gold", "quarantine"]


def test_payloads_pretty_json_text_or_hex() -> None:
    """JSON is indented, other UTF-8 is text, anything else a full hex dump."""
    assert pretty_payload(b'{"a":[1,2]}') == ("json", '{\n  "a": [\n    1,\n    2\n  ]\n}')
    assert pretty_payload(b"not json") == ("text", "not json")
    kind, text = pretty_payload(b'{"s":"\xff\xfeAB"}' + bytes(range(20)))
    assert kind == "hex"
    assert text.splitlines()[0] == (
        '00000000  7b 22 73 22 3a 22 ff fe 41 42 22 7d 00 01 02 03  |{"s":"..AB"}....|')
    assert len(text.splitlines()) == 2 and text == hex_dump(b'{"s":"\xff\xfeAB"}'
                                                              + bytes(range(20)))
    assert reason_kind("element 12: missing field 'price'") == "element N: missing field 'price'"
    assert reason_kind("invalid UTF-8 at byte 0xff, position 7") == (
        "invalid UTF-8 at byte 0xff, position N")
    assert reason_kind("message of 5123 bytes exceeds x.max=300") == (
        "message of N bytes exceeds x.max=N")
