"""Silver as Iceberg tables on a moto S3 lake (the SQLite catalog stays on local disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeconsole.config import load_settings
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import DAY, trade_table, write
from tests.iceberg.helpers import head, reader_rows, same_rows, scan, table_of, ts

pytestmark = pytest.mark.s3


def test_s3_compaction_commit_and_time_travel(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path,
) -> None:
    settings = load_settings(env={}, overrides={
        "storage.root": f"s3://{s3_bucket}/lake", "storage.s3_endpoint": s3_endpoint,
        "storage.s3_access_key": "testing", "storage.s3_secret_key": "testing",
        "iceberg.enabled": True, "iceberg.catalog_path": str(tmp_path / "catalog.db"),
    })
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, settings)
    write(storage, trade_table("SPY", ts(13, 40)))
    first = compactor.compact_date(DAY, "stocks.trades", "SPY")
    assert first["iceberg"].startswith("snapshot "), first
    table = table_of(storage, settings)
    before = head(table)
    old = scan(table, "SPY")
    assert same_rows(old, reader_rows(storage, "SPY"))
    assert {t.file.file_path.split("://")[0] for t in table.scan().plan_files()} == {"s3"}
    write(storage, trade_table("SPY", ts(15, 20), seq0=900))
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    table.refresh()
    assert head(table).parent_snapshot_id == before.snapshot_id
    assert same_rows(scan(table, "SPY"), reader_rows(storage, "SPY"))
    assert same_rows(scan(table, "SPY", before.snapshot_id), old)


def test_s3_lake_needs_a_catalog_path() -> None:
    from lakeconsole.errors import ConfigError

    with pytest.raises(ConfigError, match=r"iceberg\.catalog_path"):
        load_settings(env={}, overrides={"storage.root": "s3://b/lake", "iceberg.enabled": True})
