"""Shared by the Iceberg tests: Iceberg-on settings, table handles, scans, row equality."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from lakeconsole.config import Settings, load_settings
from lakeconsole.contract.gold import GoldDecoder
from lakeconsole.contract.schemas import by_name
from lakeconsole.iceberg import tables
from lakeconsole.iceberg.catalog import open_catalog
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import SilverReader
from lakeconsole.silver import layout
from tests.factories import DAY, DAY_NS, HOUR_NS, write

TRADES = by_name("stocks.trades")
GOLD = by_name("levels.signals")


def settings_for(root: Path, **iceberg: Any) -> Settings:
    """Settings of a local lake with Iceberg on."""
    return load_settings(env={}, overrides={"storage.root": str(root), "iceberg.enabled": True,
                                            **{f"iceberg.{k}": v for k, v in iceberg.items()}})


def flush(storage: Storage, n: int, at_ns: int) -> None:
    """One Gold flush: `n` signals of two levels each for SPY, as the Gold writer writes."""
    decoder = GoldDecoder(GOLD)
    events = []
    for i in range(n):
        payload = {"ts_event_ns": at_ns + i, "underlying": "SPY", "spot": 470.0 + i,
                   "levels": [{"id": "L0", "kind": "put_wall", "price": 465.0},
                              {"id": "L1", "kind": "call_wall", "price": 475.0}]}
        events += decoder.decode(json.dumps(payload).encode()).events
    write(storage, decoder.to_table(events, at_ns + 10_000), GOLD)


def ts(hour: int, n: int, offset: int = 0) -> list[int]:
    return [DAY_NS + hour * HOUR_NS + offset + i * 1_000 for i in range(n)]


def table_of(storage: Storage, settings: Settings) -> Table:
    catalog = open_catalog(settings.iceberg, storage, settings.storage)
    return catalog.load_table(tables.identifier(TRADES))


def scan(table: Table, value: str, snapshot_id: int | None = None) -> pa.Table:
    """The table's rows of one symbol, in Silver order."""
    got = table.scan(row_filter=f"symbol == '{value}'", snapshot_id=snapshot_id).to_arrow()
    return got.sort_by([("ts_event_ns", "ascending"), ("seq", "ascending")])


def head(table: Table) -> Snapshot:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot


def named_files(storage: Storage, value: str = "SPY") -> set[str]:
    """Lake-relative paths the date's manifest names."""
    manifest = layout.read_manifest(storage, TRADES, value, DAY)
    assert manifest is not None
    base = layout.date_dir(TRADES, value, DAY)
    return {f"{base}/{f.path}" for f in manifest.files}


def reader_rows(storage: Storage, value: str) -> pa.Table:
    return SilverReader(storage).read_arrow("silver", TRADES, value, DAY)


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    cols = TRADES.columns
    return bool(a.select(cols).cast(TRADES.schema.remove_metadata())
                .equals(b.select(cols).cast(TRADES.schema.remove_metadata())))
