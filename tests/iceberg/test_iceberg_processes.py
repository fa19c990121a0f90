"""Worker processes committing different partitions to one SQLite catalog lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from tests.factories import DAY, trade_table, write
from tests.iceberg.helpers import (
    reader_rows,
    same_rows,
    scan,
    settings_for,
    table_of,
    ts,
)

ROOT = Path(__file__).resolve().parents[2]

# argv: lake root, comma-separated symbols to compact one after the other.
CHILD = """
import json, sys
from lakeconsole.config import load_settings
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
settings = load_settings(env={}, overrides={"storage.root": sys.argv[1], "iceberg.enabled": True})
compactor = SilverCompactor(Storage.from_settings(settings.storage), settings)
for symbol in sys.argv[2].split(","):
    result = compactor.compact_date(sys.argv[3], "stocks.trades", symbol)
    print(json.dumps([symbol, result["status"], result["iceberg"]]), flush=True)
"""


@pytest.mark.slow
def test_processes_compacting_different_partitions_all_appear(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "lake")
    storage = Storage.from_settings(settings.storage)
    symbols = [f"P{i}" for i in range(6)]
    for symbol in symbols:
        write(storage, trade_table(symbol, ts(9, 20) + ts(10, 20)))
    # One partition first, so that the processes race on commits, not on creating the table.
    SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "P0")
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(storage.root),
                                  ",".join(symbols[i::2]), DAY], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for i in range(2)]
    lines = []
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-2000:]
        lines += [json.loads(line) for line in out.splitlines()]
    assert sorted(symbol for symbol, _, _ in lines) == symbols
    # P0 again is unchanged ("already current"); every other one made a snapshot.
    assert all(status == "ok" for _, status, _ in lines), lines
    assert all(note == "already current" or note.startswith("snapshot ")
               for _, _, note in lines), lines
    table = table_of(storage, settings)
    for symbol in symbols:
        assert same_rows(scan(table, symbol), reader_rows(storage, symbol)), symbol
    assert len(table.metadata.snapshots) == len(symbols)
