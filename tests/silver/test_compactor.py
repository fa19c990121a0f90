"""SilverCompactor against real DuckDB and real Parquet, on local disk and moto S3."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakeconsole.config import load_settings
from lakeconsole.contract.schemas import Dataset, by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import SilverReader
from lakeconsole.silver import layout
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.lease import Lease
from lakeconsole.silver.params import CompactionParams

DAY = "2024-03-01"
H13 = partitioning.day_bounds(DAY)[0] + 13 * partitioning.NS_PER_HOUR
TRADES = by_name("stocks.trades")



def event_ids(con: duckdb.DuckDBPyConnection, table: pa.Table, dataset: Dataset) -> list[str]:
    """The contract's event id, md5(c1|c2|…) over the dedup columns, of every row.

    The compactor never builds it (it compares the columns themselves); this reference
    implementation of docs/design.md §5 checks that the two agree.
    """
    def text(name: str) -> str:
        col = f'"{name}"'
        if pa.types.is_floating(dataset.schema.field(name).type):
            return f"CASE WHEN isnan({col}) THEN 'nan' ELSE CAST({col} + 0.0 AS VARCHAR) END"
        return f"CAST({col} AS VARCHAR)"

    parts = ", ".join(f"coalesce({text(c)}, '\\N')" for c in dataset.dedup_columns)
    con.register("id_rows", table)
    rows = con.sql(f"SELECT md5(concat_ws('|', {parts})) FROM id_rows").fetchall()
    return [str(r[0]) for r in rows]

def trade(i: int, ts: int | None = None, recv_delay: int = 10, exchange: int = 1,
          price: float | None = None, symbol: str = "SPY") -> dict[str, object]:
    """One stock trade; `i` makes it unique."""
    ts = H13 + i * 1_000_000 if ts is None else ts
    return {"ts_event_ns": ts, "ts_recv_ns": ts + recv_delay, "source": "nats",
            "symbol": symbol, "price": 500.0 + i / 100 if price is None else price,
            "size": 100 + i, "exchange": exchange, "seq": i}


def write(storage: Storage, rows: list[dict[str, object]], ds: Dataset = TRADES) -> None:
    """Bronze files as the ingest writer makes them."""
    PartitionedWriter(storage).write(ds, pa.Table.from_pylist(rows, schema=ds.schema))


def silver(storage: Storage, ds: Dataset = TRADES, value: str = "SPY") -> pa.Table:
    """The current Silver rows, in file order."""
    paths = layout.silver_files(storage, ds, value, DAY)
    tables = [pq.read_table(io.BytesIO(storage.read_bytes(p))) for p in paths]
    return pa.concat_tables(tables) if tables else ds.schema.empty_table()


def compactor(storage: Storage, **kw: object) -> SilverCompactor:
    """A compactor with small defaults suited to tests."""
    return SilverCompactor(storage, CompactionParams(**kw))  # type: ignore[arg-type]


def test_duplicates_removed_across_files_and_hours_first_recv_kept(lake: Storage) -> None:
    hour14 = H13 + partitioning.NS_PER_HOUR
    write(lake, [trade(i) for i in range(5)] + [trade(9, ts=hour14 + 5)])
    # Redelivered copies in later files: later receive time, and one with an EARLIER one
    # (a slower first delivery) whose copy must then win; `exchange` tells copies apart.
    write(lake, [trade(1, recv_delay=500, exchange=7), trade(9, ts=hour14 + 5, recv_delay=99,
                                                              exchange=7)])
    write(lake, [trade(2, recv_delay=1, exchange=8), trade(2, recv_delay=900, exchange=9)])
    result = compactor(lake).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok"
    assert (result["rows_read"], result["rows_written"], result["duplicates_removed"]) == (10, 6, 4)
    out = silver(lake).to_pylist()
    assert [r["seq"] for r in out] == [0, 1, 2, 3, 4, 9]
    assert {r["seq"]: r["exchange"] for r in out} == {0: 1, 1: 1, 2: 8, 3: 1, 4: 1, 9: 1}
    paths = layout.silver_files(lake, TRADES, "SPY", DAY)
    assert [p.rsplit("/", 2)[-2] for p in paths] == ["hour=13", "hour=14"]


def test_output_sorted_zstd_schema_and_metadata(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(50, 0, -1)])
    write(lake, [trade(i) for i in range(60, 100)])
    assert compactor(lake).compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    (path,) = layout.silver_files(lake, TRADES, "SPY", DAY)
    assert path.endswith("/hour=13/part-00000.parquet")
    data = io.BytesIO(lake.read_bytes(path))
    meta = pq.read_metadata(data)
    codecs = {meta.row_group(0).column(c).compression for c in range(meta.num_columns)}
    assert codecs == {"ZSTD"}
    table = pq.read_table(data)
    assert table.schema.remove_metadata() == TRADES.schema.remove_metadata()
    kv = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    assert kv["lakeconsole.schema_id"] == "stocks.trades.v1"
    assert kv["lakeconsole.rows"] == "90"
    assert not any("stream_seq" in k for k in kv)
    ts = table.column("ts_event_ns").to_pylist()
    assert ts == sorted(ts)


def test_same_double_from_two_writers_is_one_event(local_lake: Storage) -> None:
    computed = 0.1 + 0.2
    write(local_lake, [trade(1, price=computed), trade(2, price=-0.0)])
    # A second, different writer: DuckDB's own Parquet writer, literal text of the double.
    hour_dir = local_lake.full(partitioning.Partition("SPY", DAY, 13).relpath(TRADES))
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT {H13 + 1_000_000}::BIGINT AS ts_event_ns, "
            f"{H13 + 1_000_900}::BIGINT AS ts_recv_ns, 'nats' AS source, 'SPY' AS symbol, "
            "'0.30000000000000004'::DOUBLE AS price, 101::INTEGER AS size, "
            "1::SMALLINT AS exchange, 1::BIGINT AS seq "
            f"UNION ALL SELECT {H13 + 2_000_000}, {H13 + 2_000_900}, 'nats', 'SPY', "
            "'0.0'::DOUBLE, 102, 1, 2) "
            f"TO '{hour_dir}/part-duckdb.parquet' (FORMAT parquet)"
        )
    result = compactor(local_lake).compact_date(DAY, "stocks.trades", "SPY")
    assert (result["rows_read"], result["rows_written"]) == (4, 2)
    bronze = pq.read_table(local_lake.full(partitioning.date_dir(TRADES, "SPY", DAY, "bronze")))
    bronze = bronze.select(TRADES.columns).cast(TRADES.schema)
    with duckdb.connect() as con:
        ids = event_ids(con, bronze.sort_by([("seq", "ascending")]), TRADES)
    assert ids[0] == ids[1] and ids[2] == ids[3]  # 0.1+0.2 == 0.30000000000000004; -0.0 == 0.0


def test_rolls_files_at_target_size(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(3000)])
    result = compactor(lake, target_file_bytes=8_000).compact_date(DAY, "stocks.trades", "SPY")
    paths = layout.silver_files(lake, TRADES, "SPY", DAY)
    assert result["files_written"] == len(paths) > 2
    names = [p.rsplit("/", 1)[-1] for p in paths]
    assert names == [f"part-{i:05d}.parquet" for i in range(len(paths))]
    assert silver(lake).column("seq").to_pylist() == list(range(3000))


def test_rerun_is_byte_identical_and_collects_old_files(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(0, 400, 2)])
    write(lake, [trade(i) for i in range(1, 400, 2)] + [trade(7, recv_delay=99)])
    c = compactor(lake, target_file_bytes=3_000)
    first = c.compact_date(DAY, "stocks.trades", "SPY")
    before = [lake.read_bytes(p) for p in layout.silver_files(lake, TRADES, "SPY", DAY)]
    second = c.compact_date(DAY, "stocks.trades", "SPY", force=True)
    paths = layout.silver_files(lake, TRADES, "SPY", DAY)
    assert (first["generation"], second["generation"]) == (1, 2)
    assert [lake.read_bytes(p) for p in paths] == before
    on_storage = lake.files(layout.date_dir(TRADES, "SPY", DAY), hidden=True)
    assert [f.path for f in on_storage if f.path.endswith(".parquet")] == sorted(paths)


def test_unchanged_bronze_is_not_rewritten(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(10)])
    c = compactor(lake)
    c.compact_date(DAY, "stocks.trades", "SPY")
    again = c.compact_date(DAY, "stocks.trades", "SPY")
    assert again["status"] == "ok" and again["unchanged"] and again["generation"] == 1


def test_new_bronze_replaces_the_partition(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(10)])
    c = compactor(lake)
    c.compact_date(DAY, "stocks.trades", "SPY")
    old = layout.silver_files(lake, TRADES, "SPY", DAY)
    write(lake, [trade(i) for i in range(5, 20)])
    result = c.compact_date(DAY, "stocks.trades", "SPY")
    assert (result["generation"], result["rows_written"], result["duplicates_removed"]) == (
        2, 20, 5)
    assert silver(lake).column("seq").to_pylist() == list(range(20))
    assert not any(lake.exists(p) for p in old if p not in
                   layout.silver_files(lake, TRADES, "SPY", DAY))


def test_truncated_bronze_file_is_quarantined(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(10)])
    write(lake, [trade(i) for i in range(10, 20)])
    bad = lake.files(partitioning.date_dir(TRADES, "SPY", DAY, "bronze"))[-1].path
    lake.write_atomic(bad, lake.read_bytes(bad)[:100])
    result = compactor(lake).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok"
    assert result["rows_written"] == 10 and result["files_read"] == 1
    (q,) = result["quarantined"]
    assert q["path"] == bad and q["reason"]
    assert not lake.exists(bad) and lake.exists(q["moved_to"])
    note = json.loads(lake.read_bytes(f"quarantine/{bad}.reason.json"))
    assert note["source"] == bad and note["reason"] == q["reason"]


def test_schema_mismatch_is_quarantined_too(local_lake: Storage) -> None:
    write(local_lake, [trade(i) for i in range(5)])
    hour_dir = partitioning.Partition("SPY", DAY, 13).relpath(TRADES)
    pq.write_table(pa.table({"ts_event_ns": [H13]}), local_lake.full(f"{hour_dir}/part-x.parquet"))
    result = compactor(local_lake).compact_date(DAY, "stocks.trades", "SPY")
    assert result["rows_written"] == 5
    assert "missing" in result["quarantined"][0]["reason"]


def test_held_lease_makes_a_second_compaction_busy(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(10)])
    lock = f"{layout.date_dir(TRADES, 'SPY', DAY)}/{layout.LOCK_NAME}"
    other = Lease(lake, lock, ttl_s=60)
    assert other.acquire() is None
    busy = compactor(lake).compact_date(DAY, "stocks.trades", "SPY")
    assert busy["status"] == "busy" and "being compacted" in busy["error"]
    other.release()
    assert compactor(lake).compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"


def test_renewal_pushes_the_lease_expiry_forward(lake: Storage) -> None:
    lease = Lease(lake, "silver/x/_compaction.lock", ttl_s=30)
    assert lease.acquire() is None
    before = lease.holder()
    time.sleep(0.01)
    lease.renew()
    after = lease.holder()
    assert before is not None and after is not None and after.expires_ns > before.expires_ns
    assert after.owner == before.owner and lease.still_held()
    lease.release()


def test_the_lease_ttl_comes_from_the_silver_settings() -> None:
    settings = load_settings(env={}, overrides={"silver.lease_ttl_s": 120.0})
    assert CompactionParams.from_settings(settings).lease_ttl_s == 120.0


def test_expired_lease_is_taken_over(local_lake: Storage) -> None:
    write(local_lake, [trade(i) for i in range(10)])
    lock = f"{layout.date_dir(TRADES, 'SPY', DAY)}/{layout.LOCK_NAME}"
    stale = Lease(local_lake, lock, ttl_s=-1)
    assert stale.acquire() is None
    stale._local.release()  # as if its process had gone away, leaving the object behind
    assert compactor(local_lake).compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"


def test_concurrent_compactions_of_one_partition(
    lake: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(lake, [trade(i) for i in range(10)])
    # Hold the first compaction at its switch (files written, lease held) from the test side.
    at_switch, go_on = threading.Event(), threading.Event()
    real_switch = layout.switch

    def held_at_switch(*args: Any, **kwargs: Any) -> None:
        at_switch.set()
        go_on.wait(30)
        real_switch(*args, **kwargs)

    monkeypatch.setattr(layout, "switch", held_at_switch)
    results: list[dict[str, object]] = []
    first = threading.Thread(target=lambda: results.append(
        compactor(lake).compact_date(DAY, "stocks.trades", "SPY")))
    first.start()
    assert at_switch.wait(30)
    second = compactor(lake).compact_date(DAY, "stocks.trades", "SPY")
    go_on.set()
    first.join()
    assert second["status"] == "busy"
    assert results[0]["status"] == "ok"
    assert silver(lake).num_rows == 10


def test_pool_progress_and_cancel(lake: Storage) -> None:
    for sym in ("SPY", "QQQ", "IWM"):
        write(lake, [trade(i, symbol=sym) for i in range(5)])
    c = compactor(lake, workers=2)
    jobs = c.plan(DAY)
    assert [j.value for j in jobs] == ["IWM", "QQQ", "SPY"]
    seen: list[tuple[int, int, int]] = []
    results = c.compact_many(
        jobs, progress=lambda d, t, r: seen.append((d, t, r.rows_read if r else -1)))
    assert [r.status for r in results] == ["ok"] * 3
    assert seen[0] == (0, 3, -1) and seen[-1][:2] == (3, 3)
    assert sorted(rows for _, _, rows in seen[1:]) == [5, 5, 5]
    cancel = threading.Event()
    cancel.set()
    assert {r.status for r in c.compact_many(jobs, cancel=cancel)} == {"cancelled"}


def test_all_schemas_and_all_dates(lake: Storage) -> None:
    write(lake, [trade(i) for i in range(5)])
    next_day = H13 + partitioning.NS_PER_DAY
    write(lake, [trade(i, ts=next_day + i) for i in range(3)])
    c = compactor(lake)
    by_key = c.compact_all_schemas(DAY)
    assert list(by_key) == ["stocks.trades/SPY"] and by_key["stocks.trades/SPY"]["status"] == "ok"
    days = c.compact_all_dates("stocks.trades", "SPY")
    assert [r["date"] for r in days] == [DAY, "2024-03-02"]
    assert c.compact_date("2024-03-05", "stocks.trades", "SPY")["status"] == "empty"


def test_gold_is_not_compacted(local_lake: Storage) -> None:
    result = compactor(local_lake).compact_date(DAY, "levels.signals", "SPY")
    assert result["status"] == "failed" and "only Bronze" in result["error"]


def test_silver_reader_returns_compacted_futures_and_options(lake: Storage) -> None:
    fut = by_name("futures.trades")
    opt = by_name("options.trades")
    fut_rows = [{"ts_event_ns": H13 + i, "ts_recv_ns": H13 + i + 5, "source": "nats",
                 "symbol": "ESH4", "price": 5000.25, "size": 1, "aggressor": 1, "exchange": 2,
                 "seq": i} for i in range(4)]
    opt_rows = [{"ts_event_ns": H13 + i, "ts_recv_ns": H13 + i + 5, "source": "nats",
                 "underlying": "SPY", "option_symbol": f"SPY240301C0050{i}000",
                 "exp_date": DAY, "strike": 500.0 + i, "right": "C", "price": 1.5, "size": 1,
                 "exchange": 3, "aggressor": -1, "seq": 1} for i in range(3)]
    write(lake, fut_rows + fut_rows[:2], fut)
    write(lake, opt_rows + opt_rows[1:], opt)
    c = compactor(lake)
    assert c.compact_date(DAY, "futures.trades", "ESH4")["duplicates_removed"] == 2
    assert c.compact_date(DAY, "options.trades", "SPY")["duplicates_removed"] == 2
    reader = SilverReader(lake)
    assert reader.read_futures_trades("ESH4", DAY)["seq"].tolist() == [0, 1, 2, 3]
    options = reader.read_option_trades("SPY", DAY)
    assert options["option_symbol"].tolist() == [r["option_symbol"] for r in opt_rows]


def test_silver_files_filters_hours_and_needs_a_manifest(local_lake: Storage) -> None:
    write(local_lake, [trade(1), trade(2, ts=H13 + 2 * partitioning.NS_PER_HOUR)])
    assert layout.silver_files(local_lake, TRADES, "SPY", DAY) == []
    compactor(local_lake).compact_date(DAY, "stocks.trades", "SPY")
    assert len(layout.silver_files(local_lake, TRADES, "SPY", DAY)) == 2
    (only,) = layout.silver_files(local_lake, TRADES, "SPY", DAY, hours=[15])
    assert "/hour=15/" in only
