"""Silver layout: pending names hidden from every reader, tidy and discard, the switch."""

from __future__ import annotations

import io

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout

TRADES = by_name("stocks.trades")
DAY = "2024-03-01"
BASE = layout.date_dir(TRADES, "SPY", DAY)
RUN = "0123abcd"


def parquet(rows: int) -> bytes:
    """A Parquet file of `rows` one-column rows."""
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": list(range(rows))}), sink)
    return sink.getvalue()


def manifest(*files: layout.SilverFile, generation: int = 1) -> layout.Manifest:
    """A manifest naming `files`."""
    return layout.Manifest("stocks.trades.v1", "SPY", DAY, generation, files,
                           sum(f.rows for f in files), "fp")


def paths(storage: Storage) -> list[str]:
    """Every file below the date directory, relative to it."""
    return [f.path[len(BASE) + 1 :] for f in storage.files(BASE, hidden=True)]


def test_pending_files_are_invisible_to_globs_and_dataset_discovery(local_lake: Storage) -> None:
    pending = layout.pending_path("hour=13/part-00000.parquet", RUN)
    assert pending == f"hour=13/.part-00000.parquet.{RUN}.pending"
    local_lake.write_atomic(f"{BASE}/{pending}", parquet(3))
    local_lake.write_atomic(f"{BASE}/hour=13/part-00001.parquet", parquet(2))
    root = local_lake.root
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{root}/silver/**/*.parquet')")
        assert rows.fetchone() == (2,)
    assert pads.dataset(f"{root}/{BASE}", format="parquet").count_rows() == 2
    assert [f.path for f in local_lake.files("silver")] == [f"{BASE}/hour=13/part-00001.parquet"]


def test_switch_renames_then_points_the_manifest(lake: Storage) -> None:
    new = layout.SilverFile("hour=13/part-00001.parquet", 3, 0)
    lake.write_atomic(f"{BASE}/{layout.pending_path(new.path, RUN)}", parquet(3))
    layout.switch(lake, TRADES, manifest(new), RUN, workers=2)
    assert layout.silver_files(lake, TRADES, "SPY", DAY) == [f"{BASE}/{new.path}"]
    assert paths(lake) == ["_manifest.json", new.path]


def test_tidy_keeps_what_the_manifest_names_and_the_date_level_files(lake: Storage) -> None:
    kept = layout.SilverFile("hour=13/part-00000.parquet", 3, 0)
    layout.write_manifest(lake, TRADES, manifest(kept))
    lake.write_atomic(f"{BASE}/{layout.LOCK_NAME}", b"{}")
    lake.write_atomic(f"{BASE}/.tmp-lease-being-created", b"{}")  # a lease attempt's, maybe
    for name in [kept.path, "hour=13/part-00003.parquet", "hour=14/.odd.parquet",
                 layout.pending_path("hour=14/part-00000.parquet", RUN),
                 "hour=14/.tmp-0f0f", "stray.parquet"]:
        lake.write_atomic(f"{BASE}/{name}", parquet(1))
    gone = layout.tidy(lake, TRADES, "SPY", DAY, layout.read_manifest(lake, TRADES, "SPY", DAY))
    assert sorted(p[len(BASE) + 1 :] for p in gone) == [
        "hour=13/part-00003.parquet", "hour=14/.odd.parquet",
        f"hour=14/.part-00000.parquet.{RUN}.pending", "hour=14/.tmp-0f0f", "stray.parquet"]
    assert paths(lake) == [".tmp-lease-being-created", "_compaction.lock", "_manifest.json",
                           kept.path]


def test_tidy_without_a_manifest_removes_every_part_file(lake: Storage) -> None:
    lake.write_atomic(f"{BASE}/hour=13/part-00000.parquet", parquet(1))
    assert layout.tidy(lake, TRADES, "SPY", DAY, None) == [f"{BASE}/hour=13/part-00000.parquet"]
    assert paths(lake) == []


def test_discard_removes_only_its_own_runs_pending_files(lake: Storage) -> None:
    mine = layout.pending_path("hour=13/part-00002.parquet", RUN)
    theirs = layout.pending_path("hour=13/part-00002.parquet", "ffff0000")
    for name in [mine, theirs, "hour=13/part-00000.parquet"]:
        lake.write_atomic(f"{BASE}/{name}", parquet(1))
    assert layout.discard(lake, TRADES, "SPY", DAY, RUN) == [f"{BASE}/{mine}"]
    assert paths(lake) == [theirs, "hour=13/part-00000.parquet"]


def test_sequences_in_use_by_hour() -> None:
    files = [layout.SilverFile(p, 1, 1) for p in
             ["hour=13/part-00000.parquet", "hour=13/part-00004.parquet",
              "hour=02/part-00001.parquet"]]
    assert layout.sequences_in_use(manifest(*files)) == {13: {0, 4}, 2: {1}}
    assert layout.sequences_in_use(None) == {}
