"""Compaction killed mid-switch (kill -9 in a subprocess) and the `compact` command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.query.readers import SilverReader
from lakeconsole.silver import layout
from lakeconsole.silver.compactor import PAUSE_ENV, SilverCompactor
from tests.conftest import s3_options

ROOT = Path(__file__).resolve().parents[2]
DAY = "2024-03-01"
H13 = partitioning.day_bounds(DAY)[0] + 13 * partitioning.NS_PER_HOUR
TRADES = by_name("stocks.trades")

CHILD = """
import json, sys
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
storage = Storage(sys.argv[1], json.loads(sys.argv[2]))
print(SilverCompactor(storage).compact_date(sys.argv[3], "stocks.trades", "SPY"), flush=True)
"""


def write_trades(storage: Storage, seqs: range) -> None:
    """Bronze trades with seq (and time) from `seqs`."""
    rows = [{"ts_event_ns": H13 + i * 1000, "ts_recv_ns": H13 + i * 1000 + 5, "source": "nats",
             "symbol": "SPY", "price": 500.0, "size": i + 1, "exchange": 1, "seq": i}
            for i in seqs]
    PartitionedWriter(storage).write(TRADES, pa.Table.from_pylist(rows, schema=TRADES.schema))


def storage_options(storage: Storage) -> dict[str, object]:
    """The options a child process needs to open the same lake."""
    return {} if storage.is_local else s3_options(storage.fs.endpoint_url)


@pytest.mark.slow
def test_kill_between_files_and_manifest_keeps_old_set(lake: Storage) -> None:
    write_trades(lake, range(0, 100))
    assert SilverCompactor(lake).compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    old = layout.silver_files(lake, TRADES, "SPY", DAY)
    write_trades(lake, range(100, 150))
    env = {**os.environ, PAUSE_ENV: "60"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, lake.url, json.dumps(storage_options(lake)), DAY],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        _wait_for_new_files(lake, len(old))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # The new generation's files exist, but readers still get exactly the old set.
    assert layout.silver_files(lake, TRADES, "SPY", DAY) == old
    assert len(SilverReader(lake).read_stock_trades("SPY", DAY)) == 100
    rerun = SilverCompactor(lake).compact_date(DAY, "stocks.trades", "SPY")
    assert rerun["status"] == "ok" and rerun["rows_written"] == 150
    assert len(SilverReader(lake).read_stock_trades("SPY", DAY)) == 150
    current = layout.silver_files(lake, TRADES, "SPY", DAY)
    left = layout.hour_files(lake, TRADES, "SPY", DAY)
    assert sorted(p for ps in left.values() for p in ps) == sorted(current)


def _wait_for_new_files(storage: Storage, before: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = layout.hour_files(storage, TRADES, "SPY", DAY)
        if sum(len(p) for p in found.values()) > before:
            return
        time.sleep(0.1)
    raise AssertionError("the child never wrote its generation's files")


def run_cli(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    """`python -m lakeconsole compact …` against a local lake."""
    env = {k: v for k, v in os.environ.items() if k not in ("USE_S3", "DATA_ROOT")}
    return subprocess.run(
        [sys.executable, "-m", "lakeconsole", "compact", "--data-root", str(root), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
def test_cli_json_lines_summary_and_exit_codes(local_lake: Storage) -> None:
    write_trades(local_lake, range(20))
    write_trades(local_lake, range(10))
    root = Path(local_lake.root)
    ok = run_cli("--date", DAY, "--schema", "stocks.trades", "--partition", "SPY", "--json",
                 root=root)
    assert ok.returncode == 0, ok.stderr
    (line,) = ok.stdout.splitlines()
    result = json.loads(line)
    assert (result["status"], result["rows_written"], result["duplicates_removed"]) == (
        "ok", 20, 10)
    assert "1 partitions: 1 ok" in ok.stderr
    human = run_cli("--all-dates", root=root)
    assert human.returncode == 0 and "unchanged" in human.stdout
    forced = run_cli("--date", DAY, "--json", "--force", root=root)
    assert forced.returncode == 0
    assert not json.loads(forced.stdout.splitlines()[0]).get("unchanged")
    bad = run_cli("--date", DAY, "--schema", "levels.signals", root=root)
    assert bad.returncode == 2 and "only Bronze" in bad.stderr
    # A file where the Silver date directory should be: that partition fails.
    write_trades(local_lake, range(30, 31))
    blocker = root / layout.date_dir(TRADES, "SPY", DAY)
    for p in sorted(blocker.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    blocker.rmdir()
    blocker.write_text("in the way")
    failed = run_cli("--date", DAY, "--json", root=root)
    assert failed.returncode == 1
    assert json.loads(failed.stdout.splitlines()[0])["status"] == "failed"
