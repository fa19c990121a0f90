"""The ledger lives beside the data but never shows as data: tree, SQL views, prune."""

from __future__ import annotations

from pathlib import Path

from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import received
from lakeconsole.ledger.losses import Loss, write_loss
from lakeconsole.ledger.received import Span
from lakeconsole.query.catalog import list_children
from lakeconsole.query.sql import LakeSQL
from lakeconsole.silver.retention import prune_quarantine


def test_ledger_files_are_invisible_to_lake_readers(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_received(storage, "MARKET", [Span(1, 5, "bronze")])
    received.write_start(storage, "MARKET", 1)
    write_loss(storage, Loss("MARKET", 6, 9, 4, 1, None, None, "gone"))
    assert (tmp_path / "_ledger" / "losses").is_dir()
    assert list_children(storage, "") == []
    assert storage.list_dir("") == [] and storage.files("") == []
    assert prune_quarantine(storage, "9999-12-31", dry_run=True) == []
    assert LakeSQL(storage).query("select 1 as x").column("x").to_pylist() == [1]
    assert received.read_received(storage, "MARKET") == [Span(1, 5, "bronze")]
