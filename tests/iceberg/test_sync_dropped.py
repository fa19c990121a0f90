"""`iceberg sync` and Silver dates removed from the lake: real compaction, real catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lakeconsole.iceberg.sync import sync
from lakeconsole.lake import partitioning
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import SilverReader
from lakeconsole.silver import layout
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write
from tests.iceberg.helpers import same_rows, scan, settings_for, table_of, ts

NEXT_DAY = "2024-01-03"
DROPPED = "dropped: the date's files are no longer in the lake; "


def test_sync_drops_dates_and_values_removed_from_the_lake(tmp_path: Path) -> None:
    """SPY's first date and all of QQQ removed by hand: one delete commit each, and a
    scan reads SPY's other date from files that exist; the next sync commits nothing."""
    settings = settings_for(tmp_path / "lake")
    storage = Storage.from_settings(settings.storage)
    compactor = SilverCompactor(storage, settings)
    write(storage, trade_table("SPY", ts(13, 20)))
    write(storage, trade_table("SPY", [DAY_NS + 24 * HOUR_NS + i for i in range(7)]))
    write(storage, trade_table("QQQ", ts(14, 5)))
    for day, symbol in ((DAY, "SPY"), (NEXT_DAY, "SPY"), (DAY, "QQQ")):
        assert compactor.compact_date(day, "stocks.trades", symbol)["status"] == "ok"
    shutil.rmtree(storage.full(layout.date_dir(TRADES, "SPY", DAY)))
    shutil.rmtree(storage.full(partitioning.value_dir(TRADES, "QQQ", "silver")))
    with pytest.raises(FileNotFoundError):  # what scans of the stale table did
        scan(table_of(storage, settings), "SPY")

    done = {r.key: r for r in sync(storage, settings, [TRADES])}
    assert {k: r.status for k, r in done.items()} == {
        f"stocks.trades/SPY/{NEXT_DAY}": "current", f"stocks.trades/SPY/{DAY}": "committed",
        f"stocks.trades/QQQ/{DAY}": "committed"}
    for key in (f"stocks.trades/SPY/{DAY}", f"stocks.trades/QQQ/{DAY}"):
        assert done[key].detail.startswith(DROPPED) and "+0 -1 files" in done[key].detail
    table = table_of(storage, settings)
    assert all(Path(t.file.file_path).exists() for t in table.scan().plan_files())
    assert scan(table, "QQQ").num_rows == 0
    assert same_rows(scan(table, "SPY"),
                     SilverReader(storage).read_arrow("silver", TRADES, "SPY", NEXT_DAY))
    # The sync's lease did not leave the removed directories behind as empty dates.
    assert not Path(storage.full(layout.date_dir(TRADES, "SPY", DAY))).exists()
    assert not Path(storage.full(partitioning.value_dir(TRADES, "QQQ", "silver"))).exists()
    assert [r.status for r in sync(storage, settings, [TRADES])] == ["current"]
