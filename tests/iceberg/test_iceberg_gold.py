"""Gold as an Iceberg table: `iceberg sync` appends what the writers flushed, once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from lakeconsole.errors import SchemaError
from lakeconsole.iceberg import tables
from lakeconsole.iceberg.catalog import IcebergError, open_catalog
from lakeconsole.iceberg.history import history
from lakeconsole.iceberg.silver import SilverTables
from lakeconsole.iceberg.sync import sync
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import GoldReader
from lakeconsole.service import Service, seconds_to_gold_sync
from tests.factories import DAY, DAY_NS, HOUR_NS
from tests.iceberg.helpers import GOLD, flush
from tests.iceberg.helpers import settings_for as silver_settings
from tests.ingest.helpers import settings_for

NEXT_DAY = "2024-01-03"


def gold_scan(storage: Storage, root: Path) -> pa.Table:
    settings = silver_settings(root)
    table = open_catalog(settings.iceberg, storage, settings.storage).load_table(
        tables.identifier(GOLD))
    return table.scan().to_arrow().sort_by([("ts_event_ns", "ascending"),
                                            ("level_id", "ascending")])


def test_sync_appends_new_gold_flushes_in_one_snapshot_per_date(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    settings = silver_settings(root)
    storage = Storage.from_settings(settings.storage)
    flush(storage, 5, DAY_NS + 13 * HOUR_NS)
    flush(storage, 3, DAY_NS + 14 * HOUR_NS)
    [first] = sync(storage, settings, [GOLD])
    assert (first.key, first.status) == (f"levels.signals/SPY/{DAY}", "committed")
    assert tables.identifier(GOLD) == "gold.levels_signals"
    expected = GoldReader(storage).read_level_signals("SPY", DAY)
    got = gold_scan(storage, root)
    assert got.num_rows == len(expected) == 16  # 8 signals x 2 levels
    assert got.column("ts_event_ns").to_pylist() == expected["ts_event_ns"].tolist()
    assert got.schema.names == GOLD.columns
    # The files stay where the Gold writer put them.
    gold_files = {storage.full(f.path) for f in storage.files("gold")}
    table = open_catalog(settings.iceberg, storage, settings.storage).load_table(
        tables.identifier(GOLD))
    assert {t.file.file_path for t in table.scan().plan_files()} == gold_files

    assert [r.status for r in sync(storage, settings, [GOLD])] == ["current"]
    flush(storage, 2, DAY_NS + 15 * HOUR_NS)  # the writer flushed again
    [again] = sync(storage, settings, [GOLD])
    assert again.status == "committed" and "+1 -0 files" in again.detail
    assert gold_scan(storage, root).num_rows == 20
    table.refresh()
    assert len(table.metadata.snapshots) == 2  # one per sync that found new files
    entries = history(SilverTables(storage, settings), GOLD)
    assert [(e.table, e.current, e.total_rows) for e in entries] == [
        ("gold.levels_signals", True, 20), ("gold.levels_signals", False, 16)]


def test_gold_syncs_a_minute_after_each_utc_hour_closes() -> None:
    hour = 1_795_824_000  # 2026-11-28 00:00:00 UTC
    assert seconds_to_gold_sync(hour + 3599) == 61  # 00:59:59 → 01:01:00
    assert seconds_to_gold_sync(hour + 30) == 30  # the 23:00 hour's sync is still due
    assert seconds_to_gold_sync(hour + 60) == 3600  # just synced: the next hour's
    assert seconds_to_gold_sync(hour + 61) == 3599


async def test_the_service_syncs_gold_and_runs_it_hourly(tmp_path: Path, nats_url: str) -> None:
    """The service's own sync commits the flushed Gold files; its hourly task runs."""
    settings = settings_for(tmp_path / "lake", nats_url, **{"iceberg.enabled": True})
    storage = Storage.from_settings(settings.storage)
    flush(storage, 4, DAY_NS + 13 * HOUR_NS)
    service = Service(settings)
    [result] = service.sync_gold()
    assert result.status == "committed"
    assert gold_scan(storage, tmp_path / "lake").num_rows == 8
    await service.start()
    try:
        assert "gold iceberg" in {t.get_name() for t in service._tasks}
    finally:
        await service.stop()
    off = Service(settings_for(tmp_path / "off", nats_url))
    await off.start()
    try:
        assert "gold iceberg" not in {t.get_name() for t in off._tasks}
    finally:
        await off.stop()


def test_the_service_reads_gold_as_of_a_snapshot_and_only_in_its_tier(tmp_path: Path) -> None:
    """Service.read's path to Gold time travel (the core's cases: test_time_travel.py)."""
    root = tmp_path / "lake"
    settings = silver_settings(root)
    storage = Storage.from_settings(settings.storage)
    flush(storage, 5, DAY_NS + 13 * HOUR_NS)
    sync(storage, settings, [GOLD])
    before = GoldReader(storage).read_arrow("gold", GOLD.name, "SPY", DAY)
    flush(storage, 3, DAY_NS + 14 * HOUR_NS)  # flushed and synced later
    sync(storage, settings, [GOLD])
    service = Service(settings)
    old, new = sorted(service.iceberg_history(GOLD.name), key=lambda e: e.committed_ms)
    got = service.read("gold", GOLD.name, "SPY", DAY, as_of_snapshot=old.snapshot_id)
    assert got.equals(before) and got.num_rows == 10
    now = service.read("gold", GOLD.name, "SPY", DAY, as_of_snapshot=new.snapshot_id)
    assert now.equals(GoldReader(storage).read_arrow("gold", GOLD.name, "SPY", DAY))
    assert now.num_rows == 16
    with pytest.raises(SchemaError, match="not stored in the silver tier"):
        service.read("silver", GOLD.name, "SPY", DAY, as_of_snapshot=old.snapshot_id)


def test_sync_drops_a_gold_date_removed_from_the_lake(tmp_path: Path) -> None:
    """A Gold date deleted by hand leaves the table in one commit; the other date stays."""
    root = tmp_path / "lake"
    settings = silver_settings(root)
    storage = Storage.from_settings(settings.storage)
    flush(storage, 5, DAY_NS + 13 * HOUR_NS)
    flush(storage, 3, DAY_NS + 24 * HOUR_NS + 9 * HOUR_NS)  # the next day
    assert [r.status for r in sync(storage, settings, [GOLD])] == ["committed", "committed"]
    before = Service(settings).iceberg_history(GOLD.name)[0]
    shutil.rmtree(storage.full(partitioning.date_dir(GOLD, "SPY", DAY, "gold")))
    with pytest.raises(FileNotFoundError):  # what a scan of the stale table did
        gold_scan(storage, root)

    first = sync(storage, settings, [GOLD])
    assert [(r.key, r.status) for r in first] == [
        (f"levels.signals/SPY/{NEXT_DAY}", "current"), (f"levels.signals/SPY/{DAY}", "committed")]
    assert first[1].detail.startswith("dropped: the date's files are no longer in the lake; ")
    assert "+0 -1 files" in first[1].detail
    got = gold_scan(storage, root)
    want = GoldReader(storage).read_arrow("gold", GOLD.name, "SPY", NEXT_DAY)
    assert got.num_rows == want.num_rows == 6
    assert got.column("ts_event_ns").equals(want.column("ts_event_ns"))
    table = open_catalog(settings.iceberg, storage, settings.storage).load_table(
        tables.identifier(GOLD))
    assert all(Path(t.file.file_path).exists() for t in table.scan().plan_files())
    assert [r.status for r in sync(storage, settings, [GOLD])] == ["current"]
    with pytest.raises(IcebergError, match=r"cannot read gold\.levels_signals as of snapshot"):
        Service(settings).read("gold", GOLD.name, "SPY", DAY, as_of_snapshot=before.snapshot_id)
