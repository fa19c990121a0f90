"""Silver as Iceberg tables: real compaction, real Parquet, a real SQLite catalog."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lakeconsole.config import Settings, load_settings
from lakeconsole.iceberg import tables
from lakeconsole.iceberg.catalog import open_catalog
from lakeconsole.iceberg.sync import sync
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import DAY, trade_table, write
from tests.iceberg.helpers import (
    TRADES,
    head,
    named_files,
    reader_rows,
    same_rows,
    scan,
    settings_for,
    table_of,
    ts,
)


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Storage, Settings]:
    settings = settings_for(tmp_path / "lake")
    return Storage.from_settings(settings.storage), settings


def test_scan_equals_silver_reader_and_files_stay_put(lake: tuple[Storage, Settings]) -> None:
    storage, settings = lake
    write(storage, trade_table("SPY", ts(13, 50) + ts(14, 30)))
    result = SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok", result
    assert result["iceberg"].startswith("snapshot "), result["iceberg"]
    table = table_of(storage, settings)
    rows = scan(table, "SPY")
    assert rows.num_rows == 80
    assert same_rows(rows, reader_rows(storage, "SPY"))
    # Registered where Silver wrote them: no Iceberg data file anywhere else.
    paths = {t.file.file_path for t in table.scan().plan_files()}
    assert paths == {str(Path(storage.full(p)).resolve()) for p in named_files(storage)}
    schema = table.schema()
    assert [schema.find_column_name(f.source_id) for f in table.sort_order().fields] == [
        "ts_event_ns", "seq"]
    assert [f.name for f in table.spec().fields] == ["symbol"]


def test_recompaction_is_one_snapshot_and_time_travel_reads_the_old_rows(
    lake: tuple[Storage, Settings],
) -> None:
    storage, settings = lake
    compactor = SilverCompactor(storage, settings)
    write(storage, trade_table("SPY", ts(13, 40)))
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    table = table_of(storage, settings)
    first = head(table)
    old = scan(table, "SPY")
    write(storage, trade_table("SPY", ts(13, 10, offset=500), seq0=1000))  # late data
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    table.refresh()
    assert len(table.metadata.snapshots) == 2  # one commit per compaction
    assert head(table).parent_snapshot_id == first.snapshot_id
    assert scan(table, "SPY").num_rows == 50
    assert same_rows(scan(table, "SPY"), reader_rows(storage, "SPY"))
    # The previous generation's files were kept for the snapshot that names them.
    assert same_rows(scan(table, "SPY", first.snapshot_id), old)
    # Sync keeps what unexpired snapshots name (default keep_snapshots = 10).
    assert [r.status for r in sync(storage, settings)] == ["current"]
    assert same_rows(scan(table, "SPY", first.snapshot_id), old)
    # An unchanged rerun commits nothing.
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["iceberg"] == "already current"
    table.refresh()
    assert len(table.metadata.snapshots) == 2


def test_two_partitions_compacted_at_once_both_appear(lake: tuple[Storage, Settings]) -> None:
    storage, settings = lake
    for symbol in ("SPY", "QQQ", "IWM", "DIA"):
        write(storage, trade_table(symbol, ts(13, 20)))
    results = SilverCompactor(storage, settings).compact_all_schemas(DAY)
    assert {r["status"] for r in results.values()} == {"ok"}, results
    assert all(r["iceberg"].startswith("snapshot ") for r in results.values()), results
    table = table_of(storage, settings)
    for symbol in ("SPY", "QQQ", "IWM", "DIA"):
        assert same_rows(scan(table, symbol), reader_rows(storage, symbol)), symbol
    assert len(table.metadata.snapshots) == 4


def test_failed_commit_leaves_previous_snapshot_and_sync_heals(
    lake: tuple[Storage, Settings], tmp_path: Path,
) -> None:
    storage, settings = lake
    write(storage, trade_table("SPY", ts(13, 40)))
    assert SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")[
        "status"] == "ok"
    before = head(table_of(storage, settings))
    # The crash between the switch and the commit: the catalog is unreachable.
    broken = settings_for(storage.root, catalog_path=str(tmp_path / "no" / "such" / "x.db"),
                          uri="sqlite:////proc/nonexistent/catalog.db")
    write(storage, trade_table("SPY", ts(14, 25), seq0=500))
    result = SilverCompactor(storage, broken).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok" and result["silver_rows"] == 65, result
    assert result["iceberg"].startswith("failed: "), result
    table = table_of(storage, settings)
    assert head(table).snapshot_id == before.snapshot_id
    assert scan(table, "SPY").num_rows == 40  # the old files were kept: still readable
    done = sync(storage, settings)
    assert [r.status for r in done if r.key.endswith(f"SPY/{DAY}")] == ["committed"]
    table.refresh()
    assert same_rows(scan(table, "SPY"), reader_rows(storage, "SPY"))
    assert [r.status for r in sync(storage, settings)] == ["current"]


def test_expired_snapshots_files_are_deleted_current_never(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "lake", keep_snapshots=1, keep_hours=0.0)
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, settings)
    for i in range(3):
        write(storage, trade_table("SPY", ts(13, 10, offset=100 * i), seq0=100 * i))
        assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    table = table_of(storage, settings)
    assert len(table.metadata.snapshots) == 1  # the older two expired at once
    base = layout.date_dir(TRADES, "SPY", DAY)

    def on_disk() -> set[str]:
        return {f.path for f in storage.files(base) if f.path.endswith(".parquet")}

    assert on_disk() > named_files(storage)  # the last expired generation is still there
    extra = len(on_disk() - named_files(storage))
    assert [r.deleted for r in sync(storage, settings)] == [extra]
    assert on_disk() == named_files(storage)  # sync tidied under the lease: only current
    assert same_rows(scan(table, "SPY"), reader_rows(storage, "SPY"))


def test_iceberg_off_by_default_imports_nothing(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"storage.root": str(tmp_path / "lake")})
    assert settings.iceberg.enabled is False
    assert SilverCompactor(Storage.from_settings(settings.storage), settings).iceberg is None



def test_cli_sync_commits_and_refuses_when_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from lakeconsole.cli import main

    root = tmp_path / "lake"
    off = Storage(str(root))
    write(off, trade_table("SPY", ts(13, 30)))
    plain = load_settings(env={}, overrides={"storage.root": str(root)})
    assert SilverCompactor(off, plain).compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    assert main(["--data-root", str(root), "iceberg", "sync"]) == 2
    assert "Iceberg is off" in capsys.readouterr().err
    config = tmp_path / "lake.toml"
    config.write_text("[iceberg]\nenabled = true\n")
    args = ["--config", str(config), "--data-root", str(root), "iceberg", "sync"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"committed  stocks.trades/SPY/{DAY}" in out, out
    assert main([*args, "--json"]) == 0
    assert '"status": "current"' in capsys.readouterr().out
    settings = settings_for(root)
    assert same_rows(scan(table_of(off, settings), "SPY"), reader_rows(off, "SPY"))
    # `compact` says how the commit went (nothing when the table was already current).
    write(off, trade_table("SPY", ts(15, 5), seq0=300))
    assert main(["--config", str(config), "--data-root", str(root), "compact", "--date", DAY,
                 "--dataset", "stocks.trades", "--partition", "SPY"]) == 0
    assert "iceberg: snapshot " in capsys.readouterr().out
    # `iceberg history`: the two commits, newest (current) first, with what each changed.
    history = ["--config", str(config), "--data-root", str(root), "iceberg", "history",
               "--dataset", "stocks.trades"]
    assert main([*history, "--json"]) == 0
    snaps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["current"] for s in snaps] == [True, False]
    assert snaps[0]["parent_id"] == snaps[1]["snapshot_id"]
    assert [s["total_rows"] for s in snaps] == [35, 30]
    assert (snaps[1]["added_rows"], snaps[1]["deleted_rows"]) == (30, 0)
    assert (snaps[0]["added_rows"], snaps[0]["deleted_rows"]) == (35, 30)  # a rewrite
    assert main(history) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("* silver.stocks_trades") and "total 35" in lines[0]


@pytest.mark.parametrize(("key", "value", "message"), [
    ("catalog", "hive", r"'iceberg\.catalog' must be 'sql' or 'rest'"),
    ("keep_snapshots", 0, r"'iceberg\.keep_snapshots' must be >= 1"),
    ("keep_hours", -1.0, r"'iceberg\.keep_hours' must be >= 0"),
])
def test_bad_iceberg_settings_name_the_key(key: str, value: object, message: str) -> None:
    from lakeconsole.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_settings(env={}, overrides={f"iceberg.{key}": value})


def test_rest_catalog_needs_a_uri() -> None:
    from lakeconsole.errors import ConfigError

    with pytest.raises(ConfigError, match=r"'iceberg\.uri' is required"):
        load_settings(env={}, overrides={"iceberg.catalog": "rest"})


def test_files_an_unexpired_snapshot_of_another_partition_names_are_kept(
    tmp_path: Path,
) -> None:
    # SPY (s1), QQQ (s2), SPY late data (s3); keeping 2 expires s1, but s2 still names
    # SPY's first generation: sync must not delete it, and time travel to s2 reads it.
    settings = settings_for(tmp_path / "lake", keep_snapshots=2, keep_hours=0.0)
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, settings)
    write(storage, trade_table("SPY", ts(13, 30)))
    compactor.compact_date(DAY, "stocks.trades", "SPY")
    old_spy = reader_rows(storage, "SPY")
    write(storage, trade_table("QQQ", ts(13, 20)))
    compactor.compact_date(DAY, "stocks.trades", "QQQ")
    table = table_of(storage, settings)
    s2 = head(table).snapshot_id
    write(storage, trade_table("SPY", ts(14, 10), seq0=400))
    compactor.compact_date(DAY, "stocks.trades", "SPY")
    table.refresh()
    assert len(table.metadata.snapshots) == 2 and table.metadata.snapshots[0].snapshot_id == s2
    assert {r.status for r in sync(storage, settings)} == {"current"}
    assert same_rows(scan(table, "SPY", s2), old_spy)
    assert same_rows(scan(table, "SPY"), reader_rows(storage, "SPY"))


def test_threads_racing_to_create_the_table_all_get_it(lake: tuple[Storage, Settings]) -> None:
    """A compactor's threads open a fresh catalog at once: the namespace insert races."""
    storage, settings = lake
    catalog = open_catalog(settings.iceberg, storage, settings.storage)
    barrier = threading.Barrier(8)

    def open_table(_: int) -> tuple[str, ...]:
        barrier.wait()
        return tables.ensure_table(catalog, storage, TRADES).name()

    with ThreadPoolExecutor(8) as pool:
        names = set(pool.map(open_table, range(8)))
    assert names == {("silver", "stocks_trades")}
