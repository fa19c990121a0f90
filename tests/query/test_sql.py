"""DuckDB SQL over the lake's views, on local disk and S3."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.errors import CorruptFileError, LakeError, QueryError
from lakeconsole.lake.storage import Storage
from lakeconsole.query.sql import LakeSQL, is_truncated, lake_views
from lakeconsole.query.views import view_aliases, view_columns
from tests.factories import BASE_NS, quarantine, rows, trades, write


def test_view_names() -> None:
    """Views are named {tier}_{asset}_{dataset} after the dataset's name, not its folder."""
    names = set(lake_views())
    assert {"bronze_stocks_trades", "silver_stocks_trades", "gold_levels_signals",
            "bronze_options_greeks", "silver_options_greeks", "quarantine"} <= names
    assert "silver_levels_signals" not in names
    assert not any(n.endswith("_snapshots") for n in names)
    assert view_aliases() == {"bronze_options_greeks_snapshots": "bronze_options_greeks",
                              "silver_options_greeks_snapshots": "silver_options_greeks"}
    assert view_columns()["quarantine"] == ["received_ns", "subject", "stream_seq", "reason",
                                            "raw"]


def test_old_snapshots_name_is_an_alias(lake: Storage) -> None:
    """`silver_options_greeks_snapshots` (the folder's name) still runs, as the new view."""
    greeks = by_name("options.greeks")
    write(lake, rows(greeks, {"ts_event_ns": [BASE_NS, BASE_NS + 1], "ts_recv_ns": [1, 2],
                              "source": ["t", "t"], "underlying": ["SPY", "SPY"],
                              "option_symbol": ["A", "B"], "seq": [1, 2]}), greeks)
    sql = LakeSQL(lake)
    new = sql.query("SELECT option_symbol FROM bronze_options_greeks ORDER BY 1")
    old = sql.query("SELECT option_symbol FROM bronze_options_greeks_snapshots ORDER BY 1")
    assert new.to_pylist() == old.to_pylist() == [{"option_symbol": "A"},
                                                  {"option_symbol": "B"}]


def test_sql_mistakes_keep_duckdbs_whole_text(local_lake: Storage) -> None:
    """Binder and catalog errors keep their hints ("Did you mean", candidate columns)."""
    write(local_lake, trades(3))
    sql = LakeSQL(local_lake)
    with pytest.raises(QueryError) as err:
        sql.query("SELECT * FROM bronze_stocks_trade")
    assert 'Did you mean "bronze_stocks_trades"' in str(err.value)
    with pytest.raises(QueryError) as err:
        sql.query("SELECT prics FROM bronze_stocks_trades")
    assert "prics" in str(err.value) and '"price"' in str(err.value).splitlines()[1]


def test_query_bronze_and_silver(lake: Storage) -> None:
    """Aggregates over Bronze; Silver is a separate view."""
    write(lake, trades(10, "SPY"))
    write(lake, trades(4, "QQQ"))
    write(lake, trades(3, "SPY"), tier="silver")
    sql = LakeSQL(lake)
    table = sql.query(
        "SELECT symbol, count(*) AS n FROM bronze_stocks_trades GROUP BY 1 ORDER BY 1")
    assert table.to_pylist() == [{"symbol": "QQQ", "n": 4}, {"symbol": "SPY", "n": 10}]
    assert sql.query("SELECT count(*) AS n FROM silver_stocks_trades").to_pylist() == [{"n": 3}]
    assert sql.seconds > 0 and not sql.truncated


def test_limit_truncates(lake: Storage) -> None:
    """At most `limit` rows come back, and the table says it was cut."""
    write(lake, trades(300))
    table = LakeSQL(lake).query("SELECT * FROM bronze_stocks_trades", limit=120)
    assert table.num_rows == 120 and is_truncated(table)
    full = LakeSQL(lake).query("SELECT * FROM bronze_stocks_trades", limit=None)
    assert full.num_rows == 300 and not is_truncated(full)


def test_empty_view_and_quarantine(lake: Storage) -> None:
    """A view with no files is empty, not an error; quarantine rows are queryable."""
    quarantine(lake, 3)
    sql = LakeSQL(lake)
    assert sql.query("SELECT count(*) AS n FROM gold_levels_signals").to_pylist() == [{"n": 0}]
    rows = sql.query("SELECT reason FROM quarantine").column("reason").to_pylist()
    assert rows == ["bad json"] * 3


def test_sql_errors_are_lake_errors(local_lake: Storage) -> None:
    """Parser and binder errors become QueryError with DuckDB's first line."""
    sql = LakeSQL(local_lake)
    with pytest.raises(QueryError, match="query failed"):
        sql.query("SELEC 1")
    with pytest.raises(LakeError, match="no_such_table"):
        sql.query("SELECT * FROM no_such_table")


def test_silver_view_reads_only_the_current_generation(lake: Storage) -> None:
    """Stray Silver files outside the manifest are not queried."""
    write(lake, trades(3), tier="silver")
    stray = "silver/stocks/trades/symbol=SPY/date=2026-01-01/hour=00/part-00007.parquet"
    lake.write_atomic(stray, lake.read_bytes(stray.replace("00007", "00000")))
    table = LakeSQL(lake).query("SELECT count(*) AS n FROM silver_stocks_trades")
    assert table.to_pylist() == [{"n": 3}]


def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0xFF
    return bytes(out)


def _last_page_byte(data: bytes, column: int = 4) -> int:
    """Offset of a column chunk's last byte: inside its last data page's values."""
    chunk = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(column)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    return int(start + chunk.total_compressed_size - 1)


def _damaged_lake(lake: Storage, tier: str = "bronze") -> tuple[str, bytes]:
    """Two files of a tier; returns the first one's path and clean bytes."""
    if tier == "gold":
        gold = by_name("levels.signals")
        for k in range(2):
            write(lake, rows(gold, {"ts_event_ns": [BASE_NS + k, BASE_NS + 9], "seq": [k, 9],
                                    "ts_recv_ns": [BASE_NS] * 2, "underlying": ["SPY"] * 2,
                                    "spot": [500.25 + k, 501.5]}), "levels.signals")
    else:
        write(lake, trades(30))
        write(lake, trades(20, start_ns=BASE_NS + 5_000))
    path = lake.files(tier)[0].path
    return path, lake.read_bytes(path)


@pytest.mark.parametrize("how", ["truncated", "footer"])
def test_a_damaged_file_fails_the_query_in_one_line_naming_it(lake: Storage, how: str) -> None:
    path, data = _damaged_lake(lake)
    footer = len(data) - 8 - pq.ParquetFile(io.BytesIO(data)).metadata.serialized_size
    lake.write_atomic(path, data[: len(data) // 2] if how == "truncated" else _flip(data, footer))
    with pytest.raises(LakeError) as err:
        LakeSQL(lake).query("SELECT sum(price) FROM bronze_stocks_trades")
    assert path in str(err.value) and len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize(("backend", "tier"), [
    pytest.param("s3", "bronze", marks=pytest.mark.s3), ("local", "gold")])
def test_a_failed_page_crc_behind_an_arrow_view_is_named(
    request: pytest.FixtureRequest, backend: str, tier: str
) -> None:
    """Arrow-backed views (S3; Gold everywhere) verify CRCs; DuckDB cannot say which file."""
    lake: Storage = request.getfixturevalue(f"{backend}_lake")
    path, data = _damaged_lake(lake, tier)
    column = 4 if tier == "bronze" else by_name("levels.signals").schema.get_field_index("spot")
    lake.write_atomic(path, _flip(data, _last_page_byte(data, column)))
    view = "bronze_stocks_trades" if tier == "bronze" else "gold_levels_signals"
    with pytest.raises(CorruptFileError, match="CRC checksum verification failed") as err:
        LakeSQL(lake).query(f"SELECT * FROM {view}")
    assert path in str(err.value)


def test_every_failure_on_a_damaged_file_is_one_lake_error_naming_it(
    local_lake: Storage,
) -> None:
    """Flips every few bytes: DuckDB reads some silently (it has no CRC check), but
    whatever fails is a LakeError of one line that names the file, never a raw error."""
    path, data = _damaged_lake(local_lake)
    failures = 0
    for offset in range(0, len(data), max(1, len(data) // 120)):
        local_lake.write_atomic(path, _flip(data, offset))
        try:
            LakeSQL(local_lake).query("SELECT * FROM bronze_stocks_trades")
        except LakeError as exc:
            failures += 1
            assert path in str(exc) and len(str(exc).splitlines()) == 1, (offset, str(exc))
    assert failures > 10
