"""Readable times and numbers: pure functions, nanosecond-exact, UTC unless told otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pyarrow as pa
import pytest

from lakeconsole.tui.format import (
    clock_time,
    format_ns,
    format_ns_many,
    parse_time,
    zone_label,
)
from lakeconsole.tui.tableview import decimals_needed, display_table, is_time_column

NS = 1_795_789_865_123_456_789  # 2026-11-27 14:31:05.123456789 UTC
DAY = "2026-11-27"



@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is US Eastern, with DST."""
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_format_ns_is_exact_to_the_nanosecond() -> None:
    """Every digit survives: no float ever holds the value (a float would round ~100 ns)."""
    assert format_ns(NS) == "2026-11-27 14:31:05.123456789"
    assert format_ns(NS + 1) == "2026-11-27 14:31:05.123456790"
    assert format_ns(2**63 - 1) == "2262-04-11 23:47:16.854775807"
    assert format_ns(0) == "1970-01-01 00:00:00.000000000"
    assert format_ns(None) == "-"


def test_format_ns_many_matches_format_ns() -> None:
    """The column version (cached per second) gives the same text, and keeps nulls."""
    values = [NS, NS + 1, None, NS + 1_000_000_000, 0]
    assert format_ns_many(values) == [None if v is None else format_ns(v) for v in values]


def test_utc_has_no_dst() -> None:
    """UTC is the default whatever TZ says: a July and a January time both read as UTC."""
    july = parse_time("2026-07-01 12:00")
    january = parse_time("2026-01-01 12:00")
    assert july is not None and january is not None
    assert format_ns(july) == "2026-07-01 12:00:00.000000000"
    assert (july - january) % (86_400 * 10**9) == 0  # whole days apart: no hour lost to DST


def test_parse_time_forms() -> None:
    """HH:MM on the form's date, a date time with a fraction, or plain ns; '' is no bound."""
    assert parse_time("14:31:05.123456789", DAY) == NS
    assert parse_time("2026-11-27 14:31:05.123456789") == NS
    assert parse_time("2026-11-27T14:31:05.123456789Z") == NS
    assert parse_time(str(NS)) == NS
    assert parse_time("14:30", DAY) == NS - 65_123_456_789
    assert parse_time("2026-11-27 14:30:00.5") == NS - 64_623_456_789
    assert parse_time(DAY) == 1_795_737_600_000_000_000
    assert parse_time("  ") is None


@pytest.mark.parametrize("text, message", [
    ("14:30", "fill in the date"),
    ("14:3x", "14:30, 2026-11-27 14:30:00.5 or nanoseconds"),
    ("25:00", "hour must be in 0..23"),
    ("2026-11-27 14:30:00.1234567891", "cannot read"),
    ("99999999999999999999", "int64"),
])
def test_parse_time_errors_say_what_is_accepted(text: str, message: str) -> None:
    """A bad time is a ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        parse_time(text, None if text == "14:30" else DAY)


@pytest.mark.usefixtures("utc_plus_3")
def test_local_time_toggle_formats_and_parses_local_wall_time() -> None:
    """With local time on, 17:31 in UTC+3 is 14:31 UTC; a trailing Z still means UTC."""
    assert format_ns(NS, local=True) == "2026-11-27 17:31:05.123456789"
    assert format_ns(NS) == "2026-11-27 14:31:05.123456789"
    assert parse_time("17:31:05.123456789", DAY, local=True) == NS
    assert parse_time("14:31:05.123456789Z", DAY, local=True) == NS
    assert clock_time(1_795_789_865.9, local=True) == "17:31:05"
    assert clock_time(1_795_789_865.9) == "14:31:05"
    assert zone_label(True) == "local time (XYZ, UTC+03:00)"
    assert zone_label(False) == "UTC"


@pytest.mark.usefixtures("new_york")
def test_local_time_follows_dst() -> None:
    """US Eastern: UTC-4 in July, UTC-5 in November; the label shows the zone in force."""
    july = parse_time("2026-07-01 12:00")
    assert july is not None
    assert format_ns(july, local=True) == "2026-07-01 08:00:00.000000000"
    assert format_ns(NS, local=True) == "2026-11-27 09:31:05.123456789"
    assert zone_label(True, at=1_795_789_865) == "local time (EST, UTC-05:00)"


def test_time_columns_by_name_and_type() -> None:
    """ns columns by name (SQL spellings too); durations and ids are not times."""
    i64 = pa.int64()
    for name in ("ts_event_ns", "ts_recv_ns", "received_ns", "at_ns", "min(ts_event_ns)",
                 "max_ts_event_ns"):
        assert is_time_column(name, i64), name
    for name in ("latency_ns", "seq", "size", "ts_event_ns_count"):
        assert not is_time_column(name, i64), name
    assert not is_time_column("ts_event_ns", pa.string())
    assert is_time_column("whenever", pa.timestamp("us", "UTC"))


def test_decimals_needed_ignores_float_noise() -> None:
    """6040 next to 6039.75 needs 2; 600.0 + 7/100 is 600.07 despite its binary noise."""
    assert decimals_needed(pa.array([6040.0, 6039.75])) == 2
    assert decimals_needed(pa.array([600.0 + 7 / 100, None, float("nan")])) == 2
    assert decimals_needed(pa.array([1.0, 2.0])) == 0
    assert decimals_needed(pa.array([1 / 3])) == 9


def test_display_table_aligns_prices_groups_sizes_and_reads_times() -> None:
    """Prices share their decimals and right edge, sizes get separators, ids do not."""
    raw = pa.table({
        "ts_event_ns": [NS, NS + 1],
        "symbol": ["SPY", "[b]QQQ"],
        "price": [6040.0, 6039.75],
        "size": [1200, 15],
        "seq": [123456, 7],
        "t": pa.array([NS, None], pa.timestamp("ns", "UTC")),
    })
    shown = display_table(raw).to_pydict()
    assert shown["ts_event_ns"] == ["2026-11-27 14:31:05.123456789",
                                    "2026-11-27 14:31:05.123456790"]
    assert shown["  price"] == ["6040.00", "6039.75"]  # the label aligns with the values
    assert shown[" size"] == ["1,200", "   15"]
    assert shown["seq"] == [123456, 7]  # an id keeps its type (and no separators)
    assert shown["symbol"] == ["SPY", "[b]QQQ"]
    assert shown["t"] == ["2026-11-27 14:31:05.123456789", None]
    assert raw.column("ts_event_ns").to_pylist() == [NS, NS + 1]  # the raw table is untouched


@pytest.mark.usefixtures("utc_plus_3")
def test_display_table_in_local_time() -> None:
    """The same result in local time."""
    shown = display_table(pa.table({"ts_recv_ns": [NS]}), local=True)
    assert shown.column(0).to_pylist() == ["2026-11-27 17:31:05.123456789"]
