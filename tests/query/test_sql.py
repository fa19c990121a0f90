"""DuckDB SQL over the lake's views, on local disk and S3."""

from __future__ import annotations

import pytest

from lakeconsole.errors import LakeError, QueryError
from lakeconsole.lake.storage import Storage
from lakeconsole.query.sql import LakeSQL, is_truncated, lake_views
from tests.lake_rows import quarantine, trades, write


def test_view_names() -> None:
    """Views are named {tier}_{asset}_{dataset}."""
    names = set(lake_views())
    assert {"bronze_stocks_trades", "silver_stocks_trades", "gold_levels_signals",
            "bronze_options_greeks_snapshots", "quarantine"} <= names
    assert "silver_levels_signals" not in names


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
