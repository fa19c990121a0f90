"""The partition tree, one level at a time, on local disk and S3."""

from __future__ import annotations

import pytest

from lakeconsole.errors import StorageError
from lakeconsole.lake.storage import Storage
from lakeconsole.query.catalog import list_children
from tests.factories import BASE_NS, HOUR_NS, quarantine, trades, write


def test_walks_every_level_down_to_files(lake: Storage) -> None:
    """tier → asset → dataset → value → date → hour → file, with counts and rows."""
    write(lake, trades(10, "SPY"))
    write(lake, trades(5, "SPY", BASE_NS + HOUR_NS))
    write(lake, trades(3, "QQQ"))
    tiers = list_children(lake, "")
    assert [(n.name, n.kind, n.files) for n in tiers] == [("bronze", "tier", 3)]
    assert tiers[0].bytes > 0 and tiers[0].rows is None
    (asset,) = list_children(lake, "bronze")
    assert (asset.name, asset.kind, asset.path) == ("stocks", "asset", "bronze/stocks")
    (dataset,) = list_children(lake, asset.path)
    assert (dataset.kind, dataset.dataset) == ("dataset", "stocks.trades")
    values = list_children(lake, dataset.path)
    assert [(v.name, v.value, v.files) for v in values] == [
        ("symbol=QQQ", "QQQ", 1), ("symbol=SPY", "SPY", 2)]
    (date,) = list_children(lake, values[1].path)
    assert (date.kind, date.date, date.value, date.dataset) == (
        "date", "2026-01-01", "SPY", "stocks.trades")
    hours = list_children(lake, date.path)
    assert [(h.name, h.hour, h.rows, h.files) for h in hours] == [
        ("hour=00", 0, 10, 1), ("hour=01", 1, 5, 1)]
    (file,) = list_children(lake, hours[0].path)
    assert file.kind == "file" and file.is_leaf and file.rows == 10
    assert file.path.startswith(hours[0].path + "/part-")
    assert list_children(lake, file.path) == []


def test_quarantine_and_silver_tiers(lake: Storage) -> None:
    """Quarantine is tier → subject → date → file; Silver is listed like Bronze."""
    quarantine(lake)
    write(lake, trades(4), tier="silver")
    assert [n.name for n in list_children(lake, "")] == ["silver", "quarantine"]
    (subject,) = list_children(lake, "quarantine")
    assert (subject.kind, subject.dataset) == ("dataset", "market.stocks.trades")
    (date,) = list_children(lake, subject.path)
    assert (date.kind, date.date) == ("date", "2026-01-01")
    (file,) = list_children(lake, date.path)
    assert file.kind == "file" and file.rows == 2
    hours = list_children(lake, "silver/stocks/trades/symbol=SPY/date=2026-01-01")
    assert [(h.name, h.rows) for h in hours] == [("hour=00", 4)]


def test_empty_lake_and_bad_paths(lake: Storage) -> None:
    """An empty lake has no children; a path outside the tiers is refused."""
    assert list_children(lake, "") == []
    assert list_children(lake, "bronze/stocks") == []
    with pytest.raises(StorageError):
        list_children(lake, "elsewhere")


def test_silver_lists_only_the_manifest_generation(lake: Storage) -> None:
    """A Silver part file the manifest does not name (old or crashed) is not listed."""
    write(lake, trades(4), tier="silver")
    stray = "silver/stocks/trades/symbol=SPY/date=2026-01-01/hour=00/part-00007.parquet"
    lake.write_atomic(stray, lake.read_bytes(stray.replace("00007", "00000")))
    (date,) = list_children(lake, "silver/stocks/trades/symbol=SPY")
    assert date.files == 1
    (hour,) = list_children(lake, date.path)
    assert [f.name for f in list_children(lake, hour.path)] == ["part-00000.parquet"]
