"""Silver as Iceberg tables through `[iceberg] catalog = "rest"`: a real REST server on loopback.

The server (tests/iceberg/rest_server.py) keeps its catalog in SQLite and wants a bearer
token and, like the design's worked example, a warehouse; lakeconsole's side is the real
compactor, `iceberg sync` and `iceberg history`, with pyiceberg's RestCatalog.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import CommitFailedException

from lakeconsole.config import Settings, load_settings
from lakeconsole.contract.schemas import gold_datasets
from lakeconsole.iceberg import tables
from lakeconsole.iceberg.catalog import IcebergError, open_catalog
from lakeconsole.iceberg.silver import SilverTables
from lakeconsole.iceberg.time_travel import read_as_of
from lakeconsole.lake.storage import Storage
from lakeconsole.silver.compactor import SilverCompactor
from tests.conftest import free_port
from tests.factories import DAY, trade_table, write
from tests.iceberg.helpers import (
    TRADES,
    head,
    named_files,
    reader_rows,
    same_rows,
    scan,
    settings_for,
    table_of,
    ts,
)
from tests.iceberg.rest_server import RestCatalogServer

TOKEN = "lake-token"
CLIENT_ID, CLIENT_SECRET = "lakeconsole", "s3cret"
WAREHOUSE = "lake"
# The commit route of silver.stocks_trades, under the prefix the server's config hands out.
TRADES_PATH = f"/v1/{WAREHOUSE}/namespaces/silver/tables/stocks_trades"


@pytest.fixture
def rest(tmp_path: Path) -> Iterator[RestCatalogServer]:
    """A REST catalog server of its own per test."""
    with RestCatalogServer(tmp_path / "rest-catalog.db", token=TOKEN, client_id=CLIENT_ID,
                           client_secret=CLIENT_SECRET, warehouse=WAREHOUSE) as server:
        yield server
        assert server.errors == [], server.errors[0]  # no request made the server fail


def rest_settings(root: Path, rest: RestCatalogServer, **iceberg: Any) -> Settings:
    """A local lake whose Iceberg catalog is `rest` (token auth unless `iceberg` says)."""
    auth = iceberg or {"token": TOKEN}
    return settings_for(root, catalog="rest", uri=rest.uri, warehouse=WAREHOUSE, **auth)


@pytest.fixture
def lake(tmp_path: Path, rest: RestCatalogServer) -> tuple[Storage, Settings]:
    settings = rest_settings(tmp_path / "lake", rest)
    return Storage.from_settings(settings.storage), settings


def commits(rest: RestCatalogServer) -> int:
    """How many commits to silver.stocks_trades the server accepted."""
    return rest.calls("POST", TRADES_PATH).count(200)


def test_compaction_commits_through_rest_and_scan_equals_silver_reader(
    lake: tuple[Storage, Settings], rest: RestCatalogServer,
) -> None:
    storage, settings = lake
    write(storage, trade_table("SPY", ts(13, 50) + ts(14, 30)))
    result = SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok", result
    assert result["iceberg"].startswith("snapshot "), result["iceberg"]
    table = table_of(storage, settings)
    assert isinstance(table.catalog, RestCatalog)
    rows = scan(table, "SPY")
    assert rows.num_rows == 80
    assert same_rows(rows, reader_rows(storage, "SPY"))
    # The server holds the commit: its own store's head is the snapshot the client sees.
    stored = rest.catalog.load_table(tables.identifier(TRADES))
    assert head(stored).snapshot_id == head(table).snapshot_id
    # The table's metadata sits under the lake's hidden _iceberg/ (the location lakeconsole
    # asks for), its data files where Silver wrote them.
    assert table.metadata_location.startswith(
        str(Path(storage.full("_iceberg/silver/stocks_trades")).resolve()) + "/metadata/")
    paths = {t.file.file_path for t in table.scan().plan_files()}
    assert paths == {str(Path(storage.full(p)).resolve()) for p in named_files(storage)}
    schema = table.schema()
    assert [schema.find_column_name(f.source_id) for f in table.sort_order().fields] == [
        "ts_event_ns", "seq"]
    assert [f.name for f in table.spec().fields] == ["symbol"]


def test_recompaction_after_late_data_adds_one_snapshot(
    lake: tuple[Storage, Settings], rest: RestCatalogServer,
) -> None:
    storage, settings = lake
    compactor = SilverCompactor(storage, settings)
    write(storage, trade_table("SPY", ts(13, 40)))
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    table = table_of(storage, settings)
    first = head(table)
    old = scan(table, "SPY")
    before = commits(rest)
    write(storage, trade_table("SPY", ts(13, 10, offset=500), seq0=1000))  # late data
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["status"] == "ok"
    assert commits(rest) == before + 1  # one commit request for the recompaction
    table.refresh()
    assert len(table.metadata.snapshots) == 2
    assert head(table).parent_snapshot_id == first.snapshot_id
    assert scan(table, "SPY").num_rows == 50
    assert same_rows(scan(table, "SPY"), reader_rows(storage, "SPY"))
    # Time travel through the REST catalog reads the first generation back.
    travelled = read_as_of(SilverTables(storage, settings), TRADES, "SPY", DAY,
                           snapshot_id=first.snapshot_id)
    assert travelled.num_rows == 40 and same_rows(travelled, old)
    # An unchanged rerun asks the server for nothing new.
    assert compactor.compact_date(DAY, "stocks.trades", "SPY")["iceberg"] == "already current"
    assert commits(rest) == before + 1


def test_partitions_compacted_at_once_all_land(
    lake: tuple[Storage, Settings], rest: RestCatalogServer,
) -> None:
    storage, settings = lake
    symbols = ("SPY", "QQQ", "IWM", "DIA")
    for symbol in symbols:
        write(storage, trade_table(symbol, ts(13, 20)))
    # The compactor's threads race to create the namespace and the table, then to commit:
    # the server answers a loser 409 (not asserted: the timing decides) and it retries.
    results = SilverCompactor(storage, settings).compact_all_schemas(DAY)
    assert {r["status"] for r in results.values()} == {"ok"}, results
    assert all(r["iceberg"].startswith("snapshot ") for r in results.values()), results
    table = table_of(storage, settings)
    assert len(table.metadata.snapshots) == len(symbols)
    for symbol in symbols:
        assert same_rows(scan(table, symbol), reader_rows(storage, symbol)), symbol
    assert not [r for r in rest.requests if r.status >= 500]


def test_a_stale_commit_is_refused_with_409(
    lake: tuple[Storage, Settings], rest: RestCatalogServer,
) -> None:
    storage, settings = lake
    write(storage, trade_table("SPY", ts(13, 20)))
    assert SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")[
        "status"] == "ok"
    fresh, stale = table_of(storage, settings), table_of(storage, settings)
    snapshot = head(fresh).snapshot_id
    with fresh.manage_snapshots() as refs:
        refs.create_tag(snapshot, "audited")
    # `stale` still believes there is no such tag: the server checks that requirement.
    with pytest.raises(CommitFailedException, match="audited"), \
            stale.manage_snapshots() as refs:
        refs.create_tag(snapshot, "audited")
    assert rest.calls("POST", TRADES_PATH)[-1] == 409
    stale.refresh()
    assert stale.metadata.refs["audited"].snapshot_id == snapshot


def test_cli_sync_and_history_through_rest(
    tmp_path: Path, rest: RestCatalogServer, capsys: pytest.CaptureFixture[str],
) -> None:
    from lakeconsole.cli import main

    root = tmp_path / "lake"
    storage = Storage(str(root))
    write(storage, trade_table("SPY", ts(13, 30)))
    plain = load_settings(env={}, overrides={"storage.root": str(root)})
    assert SilverCompactor(storage, plain).compact_date(DAY, "stocks.trades", "SPY")[
        "status"] == "ok"
    config = tmp_path / "lake.toml"
    # The design's worked example of a REST catalog, plus the token this server wants.
    config.write_text(f'[iceberg]\nenabled = true\ncatalog = "rest"\nuri = "{rest.uri}"\n'
                      f'warehouse = "{WAREHOUSE}"\ntoken = "{TOKEN}"\n')
    common = ["--config", str(config), "--data-root", str(root)]
    assert main([*common, "iceberg", "sync"]) == 0
    out = capsys.readouterr().out
    assert f"committed  stocks.trades/SPY/{DAY}" in out, out
    assert main([*common, "iceberg", "sync", "--json"]) == 0
    assert '"status": "current"' in capsys.readouterr().out
    # sync made every dataset's table on the server, Gold's too.
    stored = {".".join(t) for ns in ("silver", "gold") for t in rest.catalog.list_tables(ns)}
    assert {tables.identifier(TRADES)} | {tables.identifier(ds) for ds in gold_datasets()} \
        <= stored
    settings = rest_settings(root, rest)
    assert same_rows(scan(table_of(storage, settings), "SPY"), reader_rows(storage, "SPY"))
    write(storage, trade_table("SPY", ts(15, 5), seq0=300))
    assert main([*common, "compact", "--date", DAY, "--dataset", "stocks.trades",
                 "--partition", "SPY"]) == 0
    assert "iceberg: snapshot " in capsys.readouterr().out
    history = [*common, "iceberg", "history", "--dataset", "stocks.trades"]
    assert main([*history, "--json"]) == 0
    snaps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["current"] for s in snaps] == [True, False]
    assert snaps[0]["parent_id"] == snaps[1]["snapshot_id"]
    assert [s["total_rows"] for s in snaps] == [35, 30]
    assert main(history) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("* silver.stocks_trades") and "total 35" in lines[0]


def test_wrong_token_is_one_line_naming_the_catalog(
    tmp_path: Path, rest: RestCatalogServer, capsys: pytest.CaptureFixture[str],
) -> None:
    from lakeconsole.cli import main

    settings = rest_settings(tmp_path / "lake", rest, token="not-the-token")
    storage = Storage.from_settings(settings.storage)
    with pytest.raises(IcebergError) as caught:
        open_catalog(settings.iceberg, storage, settings.storage)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cannot open the Iceberg REST catalog at {rest.uri}: "
                              "UnauthorizedError: "), message
    assert message.endswith("(check [iceberg] token or credential)"), message
    assert rest.calls("GET", "/v1/config") == [401]
    # The CLI: exit 2 and that line, no traceback.
    config = tmp_path / "lake.toml"
    config.write_text(f'[iceberg]\nenabled = true\ncatalog = "rest"\nuri = "{rest.uri}"\n'
                      f'warehouse = "{WAREHOUSE}"\ntoken = "not-the-token"\n')
    assert main(["--config", str(config), "--data-root", str(tmp_path / "lake"),
                 "iceberg", "sync"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"lakeconsole: error: {message}"], err
    # Compaction still switches Silver and says, in its result, why the commit failed.
    write(storage, trade_table("SPY", ts(13, 20)))
    result = SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")
    assert result["status"] == "ok" and result["silver_rows"] == 20, result
    assert result["iceberg"].startswith(f"failed: IcebergError: {message}; "), result["iceberg"]


# pyiceberg warns that the token endpoint defaults to {uri}/v1/oauth/tokens (deprecated).
@pytest.mark.filterwarnings("ignore:Deprecated in 0.8.0:DeprecationWarning")
def test_credential_gets_a_token_and_a_wrong_secret_is_one_line(
    tmp_path: Path, rest: RestCatalogServer,
) -> None:
    settings = rest_settings(tmp_path / "lake", rest, credential=f"{CLIENT_ID}:{CLIENT_SECRET}")
    storage = Storage.from_settings(settings.storage)
    write(storage, trade_table("SPY", ts(13, 20)))
    result = SilverCompactor(storage, settings).compact_date(DAY, "stocks.trades", "SPY")
    assert result["iceberg"].startswith("snapshot "), result
    assert rest.calls("POST", "/v1/oauth/tokens")[:1] == [200]
    assert same_rows(scan(table_of(storage, settings), "SPY"), reader_rows(storage, "SPY"))
    wrong = rest_settings(tmp_path / "lake", rest, credential=f"{CLIENT_ID}:guess")
    with pytest.raises(IcebergError, match=r"^cannot open the Iceberg REST catalog at "
                       r"http://127\.0\.0\.1:\d+: OAuthError: invalid_client: .* \(check "
                       r"\[iceberg\] token or credential\)$"):
        open_catalog(wrong.iceberg, storage, wrong.storage)
    assert rest.calls("POST", "/v1/oauth/tokens")[-1] == 401


def test_unreachable_catalog_is_one_short_line(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = settings_for(tmp_path / "lake", catalog="rest", uri=uri, token=TOKEN)
    storage = Storage.from_settings(settings.storage)
    with pytest.raises(IcebergError) as caught:
        open_catalog(settings.iceberg, storage, settings.storage)
    assert str(caught.value) == (f"cannot open the Iceberg REST catalog at {uri}: "
                                 "unreachable (ConnectionError)")


def test_table_created_by_another_worker_meanwhile_is_used(
    lake: tuple[Storage, Settings], rest: RestCatalogServer,
) -> None:
    storage, settings = lake
    other = open_catalog(settings.iceberg, storage, settings.storage)
    raced: list[str] = []

    def other_worker_wins(method: str, path: str) -> None:
        # Our create of the table arrives just after another worker's create committed.
        if (method, path) == ("POST", f"/v1/{WAREHOUSE}/namespaces/silver/tables") \
                and not raced:
            raced.append(path)
            tables.ensure_table(other, storage, TRADES)

    rest.before = other_worker_wins
    table = SilverTables(storage, settings).table(TRADES)
    assert raced and table.name() == ("silver", "stocks_trades")
