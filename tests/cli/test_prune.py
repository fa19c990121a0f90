"""`lakeconsole prune …` through cli.main: lines, --json, exit codes, on local disk and S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeconsole import cli
from lakeconsole.config import CONFIG_ENV, ENVIRONMENT
from lakeconsole.lake.quarantine import QuarantineRecord, write_records
from lakeconsole.lake.storage import Storage
from lakeconsole.silver import bronze_input, layout
from lakeconsole.silver.compactor import SilverCompactor
from lakeconsole.silver.lease import Lease
from tests.conftest import s3_options
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write

TODAY = "2024-01-17"  # with retain_days 7 the cutoff is 2024-01-10: DAY is older
RETAIN = "[bronze]\nretain_days = 7\n\n[quarantine]\nretain_days = 7\n"
SPY = f"stocks.trades/SPY/{DAY}"
QQQ = f"stocks.trades/QQQ/{DAY}"
BAD = f"market.stocks.trades/date={DAY}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No lakeconsole variables and no ./lakeconsole.toml."""
    for name in [*ENVIRONMENT, CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, text: str = RETAIN) -> str:
    """A config file with `text`; its path."""
    path = tmp_path / "retain.toml"
    path.write_text(text)
    return str(path)


def fill(storage: Storage) -> None:
    """SPY compacted (prunable), QQQ never compacted, one old quarantine file."""
    for symbol in ("SPY", "QQQ"):
        write(storage, trade_table(symbol, [DAY_NS + 5 * HOUR_NS + i for i in range(5)]), TRADES)
    assert SilverCompactor(storage).compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    write_records(storage, [QuarantineRecord(DAY_NS, "market.stocks.trades", 1, "bad", b"{")])


@pytest.fixture
def root(clean_env: None, local_lake: Storage) -> str:
    fill(local_lake)
    return local_lake.root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """cli.main with captured output."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def spy_files(root: str) -> int:
    return len(bronze_input.list_files(Storage(root), TRADES, "SPY", DAY))


def test_retention_off_by_default_deletes_nothing(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "prune", "--data-root", root, "--today", TODAY)
    assert (code, err) == (0, "")
    assert out.startswith("retention is off") and "nothing deleted" in out
    assert spy_files(root) == 1


def test_dry_run_then_prune(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["prune", "--data-root", root, "--config", config(tmp_path), "--today", TODAY]
    code, out, _ = run(capsys, *argv, "--dry-run")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4
    assert lines[0].split()[:3] == ["kept-not-in-silver", "bronze", QQQ]
    assert lines[1].split()[:5] == ["would-delete", "bronze", SPY, "1", "file(s),"]
    assert lines[2].split()[:3] == ["would-delete", "quarantine", BAD]
    assert "bronze dates before 2024-01-10 (retain_days 7)" in lines[3]
    assert "dry run: nothing was deleted" in lines[3]
    assert spy_files(root) == 1
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[:3]] == [
        "kept-not-in-silver", "deleted", "deleted"]
    assert "2 deleted, 1 kept-not-in-silver; freed 2 file(s)" in out
    assert spy_files(root) == 0


def test_json_lines_and_summary_on_stderr(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "prune", "--json", "--dry-run", "--data-root", root,
                         "--config", config(tmp_path), "--today", TODAY)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["tier"], r["key"], r["status"], r["files"]) for r in records] == [
        ("bronze", QQQ, "kept-not-in-silver", 1), ("bronze", SPY, "would-delete", 1),
        ("quarantine", BAD, "would-delete", 1)]
    assert set(records[0]) == {"tier", "key", "date", "status", "files", "bytes", "detail"}
    assert all(r["bytes"] > 0 and r["date"] == DAY for r in records)
    assert err.startswith("prune: ") and "3 partition(s)" in err


def test_busy_partition_exits_3(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = Storage(root)
    lease = Lease(storage, f"{layout.date_dir(TRADES, 'SPY', DAY)}/{layout.LOCK_NAME}", 60)
    assert lease.acquire() is None
    try:
        code, out, _ = run(capsys, "prune", "--data-root", root, "--config",
                           config(tmp_path), "--today", TODAY, "--dataset", "stocks.trades")
    finally:
        lease.release()
    assert code == 3
    # --dataset stocks.trades covers its own quarantine subject too; that has no lease.
    assert [line.split()[:3] for line in out.splitlines()[:3]] == [
        ["kept-not-in-silver", "bronze", QQQ], ["busy", "bronze", SPY],
        ["deleted", "quarantine", BAD]]
    assert "being compacted by pid" in out
    assert spy_files(root) == 1


def test_unreadable_manifest_fails_that_partition_exits_1(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Storage(root).write_atomic(layout.manifest_path(TRADES, "SPY", DAY), b"{not json")
    code, out, _ = run(capsys, "prune", "--data-root", root, "--config", config(tmp_path),
                       "--today", TODAY)
    failed = [line for line in out.splitlines() if line.startswith("failed")]
    assert code == 1 and len(failed) == 1
    assert SPY in failed[0] and "unreadable Silver manifest" in failed[0]
    assert "deleted                quarantine" in out  # the other partitions went on
    assert spy_files(root) == 1


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--today", "17/01/2024"], "not a date (YYYY-MM-DD): '17/01/2024'"),
        (["--dataset", "levels.signals"], "levels.signals is a gold dataset"),
        (["--dataset", "stocks.trade"], "unknown dataset 'stocks.trade'"),
    ],
)
def test_bad_arguments_exit_2(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
    message: str,
) -> None:
    code, out, err = run(capsys, "prune", "--data-root", root, "--config", config(tmp_path),
                         *extra)
    assert (code, out) == (2, "")
    assert err.startswith("lakeconsole: error: ") and message in err
    assert spy_files(root) == 1


def test_negative_retain_days_is_a_config_error(
    root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, "[quarantine]\nretain_days = -1\n")
    code, _, err = run(capsys, "prune", "--data-root", root, "--config", path)
    assert code == 2 and "key 'quarantine.retain_days' must be >= 0" in err


def test_unknown_flag_exits_2(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["prune", "--data-root", root, "--days", "3"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --days" in capsys.readouterr().err


@pytest.mark.s3
def test_prune_on_s3_configured_by_file(
    clean_env: None, s3_endpoint: str, s3_bucket: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lake = Storage(f"s3://{s3_bucket}/desk", s3_options(s3_endpoint))
    fill(lake)
    path = config(tmp_path, RETAIN + f'\n[storage]\nroot = "s3://{s3_bucket}/desk"\n'
                  f's3_endpoint = "{s3_endpoint}"\ns3_access_key = "testing"\n'
                  's3_secret_key = "testing"\n')
    code, out, _ = run(capsys, "prune", "--json", "--config", path, "--today", TODAY)
    statuses = {r["key"]: r["status"] for r in map(json.loads, out.splitlines())}
    assert code == 0
    assert statuses == {SPY: "deleted", QQQ: "kept-not-in-silver", BAD: "deleted"}
    assert bronze_input.list_files(lake, TRADES, "SPY", DAY) == []
    assert len(bronze_input.list_files(lake, TRADES, "QQQ", DAY)) == 1
    assert lake.files("quarantine") == []
