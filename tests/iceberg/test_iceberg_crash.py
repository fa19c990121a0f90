"""A kill -9 between Silver's switch and the Iceberg commit; the next run heals the table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import DAY, trade_table, write
from tests.faults import kill_when_paused
from tests.iceberg.helpers import (
    TRADES,
    head,
    reader_rows,
    same_rows,
    scan,
    settings_for,
    table_of,
    ts,
)
from tests.iceberg.helpers import named_files as named

ROOT = Path(__file__).resolve().parents[2]

# argv: lake root. Compacts with Iceberg on and stops just before the commit.
CHILD = """
import sys, time
from lakeconsole.config import load_settings
from lakeconsole.iceberg import commit
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor

def paused(*args, **kwargs):
    print("paused", flush=True)
    time.sleep(600)  # the test kills us here

commit.replace = paused
settings = load_settings(env={}, overrides={"storage.root": sys.argv[1],
                                            "iceberg.enabled": True})
storage = Storage.from_settings(settings.storage)
SilverCompactor(storage, settings).compact_date(sys.argv[2], "stocks.trades", "SPY")
"""


@pytest.mark.slow
@pytest.mark.parametrize("heal", ["rerun", "sync"])
def test_kill_between_switch_and_commit(tmp_path: Path, heal: str) -> None:
    from lakeconsole.iceberg.sync import sync

    settings = settings_for(tmp_path / "lake")
    storage = Storage.from_settings(settings.storage)
    write(storage, trade_table("SPY", ts(13, 40)))
    assert SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")[
        "status"] == "ok"
    table = table_of(storage, settings)
    before, old = head(table), scan(table, "SPY")
    write(storage, trade_table("SPY", ts(16, 15), seq0=700))
    line, err = kill_when_paused([sys.executable, "-c", CHILD, str(storage.root), DAY], ROOT)
    assert line == "paused", err[-2000:]
    # Silver switched (the manifest is the truth); the table is at its previous snapshot,
    # whose files the killed run's tidy kept.
    assert reader_rows(storage, "SPY").num_rows == 55
    table.refresh()
    assert head(table).snapshot_id == before.snapshot_id
    assert same_rows(scan(table, "SPY"), old)
    if heal == "rerun":  # Bronze unchanged: nothing to compact, but the commit is made
        result = SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")
        assert result["unchanged"] and result["iceberg"].startswith("snapshot "), result
    else:
        assert [r.status for r in sync(storage, settings)] == ["committed"]
    table.refresh()
    assert head(table).parent_snapshot_id == before.snapshot_id
    assert same_rows(scan(table, "SPY"), reader_rows(storage, "SPY"))
    assert same_rows(scan(table, "SPY", before.snapshot_id), old)  # time travel still works
    base = layout.date_dir(TRADES, "SPY", DAY)
    on_disk = {f.path for f in storage.files(base) if f.path.endswith(".parquet")}
    assert on_disk >= named(storage)
