"""The `compact` command line (crashed compactions: see test_crash_safety)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from lakeconsole.contract.schemas import by_name
from lakeconsole.lake import partitioning
from lakeconsole.lake.batch_writer import PartitionedWriter
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import layout

ROOT = Path(__file__).resolve().parents[2]
DAY = "2024-03-01"
H13 = partitioning.day_bounds(DAY)[0] + 13 * partitioning.NS_PER_HOUR
TRADES = by_name("stocks.trades")


def write_trades(storage: Storage, seqs: range) -> None:
    """Bronze trades with seq (and time) from `seqs`."""
    rows = [{"ts_event_ns": H13 + i * 1000, "ts_recv_ns": H13 + i * 1000 + 5, "source": "nats",
             "symbol": "SPY", "price": 500.0, "size": i + 1, "exchange": 1, "seq": i}
            for i in seqs]
    PartitionedWriter(storage).write(TRADES, pa.Table.from_pylist(rows, schema=TRADES.schema))


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
