"""`lakeconsole coverage` through cli.main: table, --json, summary, exit codes; local and S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeconsole import cli
from lakeconsole.commands.coverage import when
from lakeconsole.config import CONFIG_ENV, ENVIRONMENT
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from tests.conftest import s3_options
from tests.ledger.helpers import DAY, at, loss, record_loss, trades, write_bronze


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No lakeconsole variables and no ./lakeconsole.toml."""
    for name in [*ENVIRONMENT, CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fill(storage: Storage, spy_seqs: list[int]) -> None:
    """SPY (seqs given) and QQQ (complete), both compacted, at 14:00-14:0N."""
    for symbol, seqs in (("SPY", spy_seqs), ("QQQ", [0, 1, 2])):
        write_bronze(storage, trades(seqs, [at(14, i, 123456789) for i in range(len(seqs))],
                                     symbol))
        assert SilverCompactor(storage).compact_date(DAY, "stocks.trades", symbol)["status"] == "ok"


def test_all_complete_table_and_exit_0(
    clean_env: None, local_lake: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(local_lake, [0, 1, 2, 3])
    code, out, err = run(capsys, "coverage", "--data-root", local_lake.root, "--date", DAY)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["DATASET", "PARTITION", "HOUR", "STATUS"]
    assert lines[1].split()[:8] == ["stocks.trades", "QQQ", "14", "complete", "3", "3", "0", "0"]
    assert "2024-03-01 14:00:00.123456789" in lines[2]
    assert "2024-03-01 14:03:00.123456789" in lines[2]
    assert lines[1].index("complete") == lines[2].index("complete")  # aligned
    assert lines[-1].startswith("coverage 2024-03-01: ok: 2 hour(s) of 2 partition(s): 2 complete")


def test_gaps_json_and_exit_4(
    clean_env: None, local_lake: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(local_lake, [0, 1, 4, 5, 9])
    argv = ["coverage", "--data-root", local_lake.root, "--date", DAY, "--partition", "SPY",
            "--dataset", "stocks.trades"]
    code, out, err = run(capsys, *argv, "--json")
    assert code == 4
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["status"] == "gaps" and row["gap_ranges"] == [[2, 3], [6, 8]]
    assert (row["feed_gaps"], row["bronze_rows"], row["silver_rows"]) == (5, 5, 5)
    assert row["first_ts_ns"] == at(14, 0, 123456789)
    assert "ALERT" in err and "5 seq(s) missing in 2 gap(s)" in err
    code, out, _ = run(capsys, *argv)
    assert code == 4 and " gaps " in out and "2-3,6-8" in out


def test_loss_exit_4_and_stale_exit_0(
    clean_env: None, local_lake: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(local_lake, [0, 1, 2])
    write_bronze(local_lake, trades([3], [at(14, 30)]))
    argv = ["coverage", "--data-root", local_lake.root, "--date", DAY, "--json"]
    code, out, _ = run(capsys, *argv)
    statuses = {(r["partition"], r["status"], r["late_rows"])
                for r in map(json.loads, out.splitlines())}
    assert (code, statuses) == (0, {("QQQ", "complete", 0), ("SPY", "stale", 1)})
    record_loss(local_lake, loss(10, 12, at(13, 59), at(14, 1)))
    code, out, _ = run(capsys, *argv)
    assert code == 4
    assert {(r["status"], r["lost"]) for r in map(json.loads, out.splitlines())} == {("loss", 3)}


def test_no_data_says_so_and_exits_0(
    clean_env: None, local_lake: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "coverage", "--data-root", local_lake.root, "--date", DAY)
    assert (code, out.strip(), err) == (0, "coverage 2024-03-01: no data for this date", "")


def test_bad_arguments_exit_2(
    clean_env: None, local_lake: Storage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "coverage", "--data-root", local_lake.root, "--date", "2024-3-1")
    assert code == 2 and err.count("\n") == 1 and "not a date" in err
    code, _, err = run(capsys, "coverage", "--data-root", local_lake.root, "--date", DAY,
                       "--dataset", "nope")
    assert code == 2 and "unknown dataset" in err


def test_times_keep_every_nanosecond() -> None:
    assert when(at(14, 31, 5_123_456_789)) == "2024-03-01 14:31:05.123456789"
    assert when(None) == "-"


@pytest.mark.s3
def test_coverage_on_s3(
    clean_env: None, s3_endpoint: str, s3_bucket: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lake = Storage(f"s3://{s3_bucket}/desk", s3_options(s3_endpoint))
    fill(lake, [0, 2])
    config = tmp_path / "s3.toml"
    config.write_text(f'[storage]\nroot = "s3://{s3_bucket}/desk"\n'
                      f's3_endpoint = "{s3_endpoint}"\ns3_access_key = "testing"\n'
                      's3_secret_key = "testing"\n')
    code, out, _ = run(capsys, "coverage", "--config", str(config), "--date", DAY, "--json")
    got = {(r["partition"], r["status"]) for r in map(json.loads, out.splitlines())}
    assert (code, got) == (4, {("QQQ", "complete"), ("SPY", "gaps")})
