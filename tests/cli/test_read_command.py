"""`lakeconsole read …` through cli.main, on a local root and on S3 configured by environment."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakeconsole import cli
from lakeconsole.config import CONFIG_ENV, ENVIRONMENT
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from tests.conftest import s3_options
from tests.factories import DAY, DAY_NS, HOUR_NS, TRADES, trade_table, write

EXACT = DAY_NS + 5 * HOUR_NS + 123_456_789
TS = [EXACT + i * 1_000 for i in range(5)]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No lakeconsole variables and no ./lakeconsole.toml."""
    for name in [*ENVIRONMENT, CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def root(clean_env: None, local_lake: Storage) -> str:
    """A local lake with five SPY trades in hour 05."""
    write(local_lake, trade_table("SPY", TS), TRADES)
    return local_lake.root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """cli.main with captured output."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lines_keep_exact_ns(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "read", "bronze", "stocks.trades", "SPY", "--date", DAY,
                         "--data-root", root, "--format", "json", "--limit", "0")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["ts_event_ns"] for r in records] == TS
    assert set(records[0]) == set(TRADES.columns)
    assert "5 of 5 rows from 1 file(s)" in err


def test_csv_with_columns_and_time_range(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--data-root", root, "read", "bronze", "stocks.trades", "SPY",
                       "--date", DAY, "--format", "csv", "--columns", "ts_event_ns,seq",
                       "--start-ns", str(TS[1]), "--end-ns", str(TS[3]))
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["ts_event_ns", "seq"], [str(TS[1]), "1"], [str(TS[2]), "2"], [str(TS[3]), "3"]]


def test_table_with_limit(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "read", "bronze", "stocks.trades", "SPY", "--date", DAY,
                         "--data-root", root, "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == TRADES.columns
    assert len(lines) == 3 and str(TS[0]) in lines[1] and str(TS[1]) in lines[2]
    assert "2 of 5 rows" in err


def test_empty_partition(root: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "read", "bronze", "stocks.trades", "QQQ", "--date", DAY,
                         "--data-root", root)
    assert (code, out) == (0, "(no rows)\n")
    assert "0 of 0 rows from 0 file(s)" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["bronze", "stocks.trade", "SPY", "--date", DAY], "unknown dataset 'stocks.trade'"),
        (["gold", "stocks.trades", "SPY", "--date", DAY], "not stored in the gold tier"),
        (["bronze", "stocks.trades", "SPY", "--date", "02/01/2024"],
         "not a date (YYYY-MM-DD): '02/01/2024'"),
        (["bronze", "stocks.trades", "SPY", "--date", DAY, "--columns", "px"],
         "unknown column(s) px"),
    ],
)
def test_errors_exit_2_with_a_message(
    root: str, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, out, err = run(capsys, "read", *extra, "--data-root", root)
    assert code == 2 and out == ""
    assert err.startswith("lakeconsole: error: ") and message in err


def test_unknown_dataset_lists_the_known_ones(
    root: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "read", "bronze", "crypto.trades", "BTC", "--date", DAY,
                       "--data-root", root)
    assert code == 2 and "known:" in err and "stocks.trades" in err and "futures.mbp10" in err


@pytest.mark.s3
def test_read_from_s3_configured_by_environment(
    clean_env: None, s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lake = Storage(f"s3://{s3_bucket}/desk", s3_options(s3_endpoint))
    write(lake, trade_table("SPY", TS), TRADES)
    env = {"USE_S3": "true", "S3_BUCKET": s3_bucket, "S3_PREFIX": "desk",
           "S3_ENDPOINT": s3_endpoint, "S3_ACCESS_KEY": "testing", "S3_SECRET_KEY": "testing"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "read", "bronze", "stocks.trades", "SPY", "--date", DAY,
                         "--format", "json", "--end-ns", str(TS[1]))
    assert code == 0, err
    assert [json.loads(line)["ts_event_ns"] for line in out.splitlines()] == TS[:2]


def _damage(data: bytes, how: str) -> bytes:
    """A data page's last byte flipped (CRC), a footer byte flipped, or the tail cut."""
    if how == "truncated":
        return data[: len(data) // 2]
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    if how == "page":
        chunk = meta.row_group(0).column(TRADES.schema.get_field_index("price"))
        start = chunk.dictionary_page_offset if chunk.has_dictionary_page else (
            chunk.data_page_offset)
        offset = start + chunk.total_compressed_size - 1
    else:  # the footer's first bytes: the thrift FileMetaData header
        offset = len(data) - 8 - meta.serialized_size
    out = bytearray(data)
    out[offset] ^= 0xFF
    return bytes(out)


@pytest.mark.parametrize("tier", ["bronze", "silver"])
@pytest.mark.parametrize("how", ["page", "footer", "truncated"])
def test_a_damaged_file_is_one_line_naming_it(
    root: str, local_lake: Storage, capsys: pytest.CaptureFixture[str], tier: str, how: str
) -> None:
    if tier == "silver":
        SilverCompactor(local_lake).compact_date(DAY, "stocks.trades", "SPY")
    write(local_lake, trade_table("SPY", [t + 7 for t in TS], seq0=100), TRADES)  # a healthy one
    (path, *_) = [f.path for f in local_lake.files(tier)]
    local_lake.write_atomic(path, _damage(local_lake.read_bytes(path), how))
    code, out, err = run(capsys, "read", tier, "stocks.trades", "SPY", "--date", DAY,
                         "--data-root", root)
    assert code == 2 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("lakeconsole: error: damaged file ") and path in line
    if how == "page":
        assert "CRC checksum verification failed" in line
