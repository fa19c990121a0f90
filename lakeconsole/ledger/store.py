"""Small Parquet tables under `{root}/_ledger/`: atomic writes, tolerant listing and reads."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole.errors import CorruptFileError, describe
from lakeconsole.lake.parquet import write_parquet
from lakeconsole.lake.storage import TEMP_PREFIX, Storage

ROOT = "_ledger"


def stream_dir(kind: str, stream: str) -> str:
    """`_ledger/{kind}/stream={stream}` (NATS stream names hold no `/`, `.` or spaces)."""
    return f"{ROOT}/{kind}/stream={stream}"


def write_table(storage: Storage, relpath: str, table: pa.Table) -> None:
    """Publish one ledger file atomically, like every lake write."""
    storage.write_atomic(relpath, write_parquet(table))


def ledger_files(storage: Storage, kind: str, stream: str | None = None) -> list[str]:
    """Published ledger files of one kind (all streams, or one), sorted by path."""
    base = stream_dir(kind, stream) if stream is not None else f"{ROOT}/{kind}"
    # `_ledger` is hidden from readers: list hidden names, then keep finished files only.
    found = storage.files(base, hidden=True)
    return [
        f.path for f in found
        if f.path.endswith(".parquet") and not f.path.rsplit("/", 1)[-1].startswith(TEMP_PREFIX)
    ]


def read_table(storage: Storage, relpath: str, schema: pa.Schema) -> pa.Table:
    """One ledger file in `schema`, or CorruptFileError naming it."""
    data = storage.read_bytes(relpath)
    try:
        table = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
        return table.select(schema.names).cast(schema)
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        where = f"{storage.url.rstrip('/')}/{relpath}"
        raise CorruptFileError(f"damaged ledger file {where}: {describe(exc)}") from exc


def read_all(storage: Storage, paths: list[str], schema: pa.Schema) -> pa.Table:
    """The rows of several ledger files; files deleted meanwhile (a merge) are skipped."""
    tables = []
    for path in paths:
        try:
            tables.append(read_table(storage, path, schema))
        except FileNotFoundError:
            continue
    return pa.concat_tables(tables) if tables else schema.empty_table()
