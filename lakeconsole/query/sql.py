"""DuckDB SQL over the lake: one view per tier and dataset, e.g. `silver_stocks_trades`."""

from __future__ import annotations

import re
import time

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from lakeconsole.errors import CorruptFileError, LakeError, QueryError, StorageError
from lakeconsole.lake import listing, partitioning
from lakeconsole.lake.parquet import read_error, verified_format
from lakeconsole.lake.storage import Storage
from lakeconsole.query import ROW_LIMIT
from lakeconsole.query.views import QUARANTINE_VIEW, View, lake_views, view_aliases
from lakeconsole.silver.layout import silver_files

BATCH_ROWS = 65_536
__all__ = ["QUARANTINE_VIEW", "LakeSQL", "View", "is_truncated", "lake_views"]


class LakeSQL:
    """Runs DuckDB SQL with the lake's views registered; results come back as Arrow."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.seconds = 0.0
        self.truncated = False

    def query(self, sql: str, limit: int | None = ROW_LIMIT) -> pa.Table:
        """Run `sql`; at most `limit` rows come back (`truncated` says whether more existed)."""
        started = time.perf_counter()
        con = duckdb.connect(":memory:")
        try:
            for view in self._referenced(sql):
                self._register(con, view)
            _register_aliases(con, sql)
            table = self._fetch(con, sql, limit)
            self.truncated = is_truncated(table)
            return table
        # RuntimeError: DuckDB's binding layer; OSError/ArrowException: DuckDB's error
        # re-raised by Arrow while `_fetch` pulls the batches.
        except (duckdb.Error, RuntimeError, OSError, pa.ArrowException) as exc:
            raise self._failure(sql, exc) from exc
        finally:
            con.close()
            self.seconds = time.perf_counter() - started

    def _failure(self, sql: str, exc: Exception) -> LakeError:
        """One line for a failed query; a damaged file is named even when DuckDB does not."""
        text = _first_line(exc)
        if self.storage.root not in text and _may_be_a_file(exc):
            # DuckDB names the file in some read errors only (not for a bad footer, nor
            # for a failed CRC inside an Arrow-backed view): find it, reading one by one.
            damaged = read_error(self.storage, self._all_files(sql), exc)
            if isinstance(damaged, CorruptFileError):
                return damaged
        if isinstance(exc, (duckdb.IOException, OSError)):
            return StorageError(f"query failed reading the lake: {text}")
        if not _may_be_a_file(exc):  # a mistake in the SQL: DuckDB's hints ("Did you mean")
            text = str(exc).strip() or text
        return QueryError(f"query failed: {text}")

    def _all_files(self, sql: str) -> list[str]:
        return [p for view in self._referenced(sql) for p in self.files(view)]

    def files(self, view: View) -> list[str]:
        """Lake-relative files behind a view (only the current ones for Silver)."""
        if view.dataset is None:
            return [f.path for f in self.storage.files(view.tier)]
        ds = view.dataset
        if view.tier != "silver":
            return [f.path for f in self.storage.files(partitioning.dataset_dir(ds, view.tier))]
        return [
            path
            for value in listing.values(self.storage, ds, "silver")
            for day in listing.dates(self.storage, ds, value, "silver")
            for path in silver_files(self.storage, ds, value, day)
        ]

    def _referenced(self, sql: str) -> list[View]:
        """The views a query names; all of them when it names none (e.g. SHOW TABLES)."""
        views = lake_views()
        aliases = view_aliases()
        words = {aliases.get(w, w) for w in _words(sql)}
        named = [v for n, v in views.items() if n in words]
        return named or list(views.values())

    def _register(self, con: duckdb.DuckDBPyConnection, view: View) -> None:
        paths = self.files(view)
        if not paths:
            if view.dataset is not None:
                con.register(view.name, view.dataset.schema.empty_table())
            return
        full = [self.storage.full(p) for p in paths]
        # Older Gold files hold older column types (see schemas.GOLD_CONTEXT): Gold goes
        # through pyarrow in the contract schema, so SQL converts them exactly as LakeReader.
        if self.storage.is_local and view.tier != "gold":
            listing = ", ".join(_quote(p) for p in full)
            con.execute(
                f'CREATE VIEW "{view.name}" AS SELECT * FROM '
                f"read_parquet([{listing}], union_by_name = true, hive_partitioning = false)"
            )
        else:
            schema = None if view.dataset is None else view.dataset.schema
            dataset = pads.dataset(
                full, schema=schema, format=verified_format(), filesystem=self.storage.fs
            )
            con.register(view.name, dataset)

    @staticmethod
    def _fetch(con: duckdb.DuckDBPyConnection, sql: str, limit: int | None) -> pa.Table:
        rel = con.sql(sql)
        if rel is None:  # a statement without a result (CREATE, SET, …)
            return pa.table({})
        reader = rel.to_arrow_reader(BATCH_ROWS)
        batches: list[pa.RecordBatch] = []
        rows = 0
        truncated = False
        for batch in reader:
            if limit is not None and rows + batch.num_rows > limit:
                batches.append(batch.slice(0, limit - rows))
                truncated = True
                break
            batches.append(batch)
            rows += batch.num_rows
        table = pa.Table.from_batches(batches, schema=reader.schema)
        meta = {b"lakeconsole.truncated": b"true" if truncated else b"false"}
        return table.replace_schema_metadata(meta)


def _words(sql: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}


def _register_aliases(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """The old view names a query uses, as views over the new ones."""
    for old, new in view_aliases().items():
        if old in _words(sql):
            con.execute(f'CREATE VIEW "{old}" AS SELECT * FROM "{new}"')


def is_truncated(table: pa.Table) -> bool:
    """Whether `LakeSQL.query` cut the result at its row limit."""
    meta = table.schema.metadata or {}
    return meta.get(b"lakeconsole.truncated") == b"true"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _may_be_a_file(exc: Exception) -> bool:
    """Errors a damaged file can cause (not mistakes in the SQL itself)."""
    file_errors = (duckdb.IOException, duckdb.InvalidInputException, RuntimeError, OSError,
                   pa.ArrowException)
    # A damaged footer surfaces as DuckDB's base Error ("don't know what type: …").
    return isinstance(exc, file_errors) or type(exc) is duckdb.Error


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

