"""Encoding and decoding of lake Parquet files: sorted, ZSTD, checksummed, key/value metadata.

Every tier's files are written by `write_parquet`: a CRC32 on every page (any Parquet
reader can check it) and, in the footer, a CRC32 of all bytes before the footer (page
headers included, which page CRCs miss). Reads that must be trustworthy (compaction
input) go through `read_verified`: both CRCs, then the footer itself cross-checked
against its own key/value metadata: exact schema, row count, ts range.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakeconsole import __version__
from lakeconsole.contract.schemas import Dataset
from lakeconsole.errors import CorruptFileError, StorageError, describe
from lakeconsole.lake.storage import Storage

if TYPE_CHECKING:
    import pyarrow.dataset as pads

META_PREFIX = "lakeconsole."
# Page CRCs cover page bodies only. A flipped bit in a page header can switch a PLAIN
# page to RLE_DICTIONARY, decoding its doubles as indices into the chunk's dictionary:
# wrong prices, right row count, no error (measured on a 300k-row Bronze file). So the
# footer also records a CRC32 of every byte before it: page headers and pages.
DATA_CRC_KEY = META_PREFIX + "data_crc32"


@dataclass(frozen=True)
class Encoding:
    """How files are compressed."""

    compression: str = "zstd"
    level: int = 3


def sort_rows(table: pa.Table, dataset: Dataset) -> pa.Table:
    """Rows in (ts_event_ns, seq) order, the order every lake file keeps."""
    keys: list[tuple[str, Literal["ascending", "descending"]]] = [
        (c, "ascending") for c in dataset.sort_columns
    ]
    return table.take(pc.sort_indices(table, sort_keys=keys))


def file_metadata(
    table: pa.Table, dataset: Dataset, seq_range: tuple[int, int] | None = None
) -> dict[str, str]:
    """Key/value metadata every file carries."""
    ts = table.column("ts_event_ns")
    meta = {
        "schema_id": dataset.schema_id,
        "writer_version": __version__,
        "rows": str(table.num_rows),
        "min_ts_event_ns": str(pc.min(ts).as_py()) if table.num_rows else "",
        "max_ts_event_ns": str(pc.max(ts).as_py()) if table.num_rows else "",
    }
    if seq_range is not None:
        meta["stream_seq_min"], meta["stream_seq_max"] = str(seq_range[0]), str(seq_range[1])
    return {META_PREFIX + k: v for k, v in meta.items()}


def with_metadata(
    table: pa.Table, dataset: Dataset, seq_range: tuple[int, int] | None = None
) -> pa.Table:
    """The table in the dataset's schema, carrying the lakeconsole key/value metadata."""
    if table.schema != dataset.schema:
        table = table.cast(dataset.schema)
    meta = {k.encode(): v.encode() for k, v in file_metadata(table, dataset, seq_range).items()}
    return table.replace_schema_metadata({**(dataset.schema.metadata or {}), **meta})


def write_parquet(
    table: pa.Table,
    encoding: Encoding = Encoding(),
    use_dictionary: bool | list[str] = True,
    column_encoding: dict[str, str] | None = None,
) -> bytes:
    """The lake's one Parquet writer: a complete file, as bytes, for one atomic write."""
    options: dict[str, Any] = {  # a dict: pyarrow-stubs know fewer forms than pyarrow takes
        "compression": encoding.compression,
        "compression_level": encoding.level,
        # Statistics on ts_event_ns let readers skip row groups outside a time range.
        "write_statistics": True,
        # A CRC32 per page: a flipped byte in data fails the read instead of decoding
        # into a wrong price. Costs 4 bytes per page and a CRC pass at write.
        "write_page_checksum": True,
        "use_dictionary": use_dictionary,
    }
    if column_encoding:
        options["column_encoding"] = column_encoding
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, table.schema, **options) as writer:
        writer.write_table(table)
        # Every page is written: checksum them with their headers (see DATA_CRC_KEY).
        writer.add_key_value_metadata({DATA_CRC_KEY: _data_crc(sink)})
    return sink.getvalue()


def _data_crc(sink: io.BytesIO) -> str:
    """`{length}:{crc32}` of everything written so far (all row groups, before the footer)."""
    length = sink.tell()
    with sink.getbuffer() as view, view[:length] as head:
        return f"{length}:{zlib.crc32(head):08x}"


def encode(
    table: pa.Table,
    dataset: Dataset,
    encoding: Encoding = Encoding(),
    seq_range: tuple[int, int] | None = None,
    presorted: bool = False,
) -> bytes:
    """A complete Bronze/Gold Parquet file, sorted, with its metadata."""
    table = table.cast(dataset.schema) if table.schema != dataset.schema else table
    if not presorted:
        table = sort_rows(table, dataset)
    return write_parquet(with_metadata(table, dataset, seq_range), encoding)


def read_metadata(source: Any) -> dict[str, str]:
    """The lakeconsole key/value metadata of a file (path or file object)."""
    return lake_metadata(pq.read_schema(source))


def lake_metadata(schema: pa.Schema) -> dict[str, str]:
    """The lakeconsole key/value metadata of a schema, prefix removed."""
    out = {}
    for k, v in (schema.metadata or {}).items():
        # A damaged footer can hold bytes that are not UTF-8: keep them visible, not fatal.
        key = k.decode(errors="replace")
        if key.startswith(META_PREFIX):
            out[key[len(META_PREFIX) :]] = v.decode(errors="replace")
    return out


def verified_format() -> pads.ParquetFileFormat:
    """A pyarrow.dataset Parquet format that checks every page's CRC while scanning."""
    import pyarrow.dataset as pads  # it imports pandas: only readers of DataFrames pay

    options = pads.ParquetFragmentScanOptions(page_checksum_verification=True)
    return pads.ParquetFileFormat(default_fragment_scan_options=options)


def read_verified(data: bytes, dataset: Dataset) -> pa.Table:
    """One file's rows in the dataset's schema, or CorruptFileError (CRCs, schema, metadata)."""
    try:
        pf = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
        problem = data_problem(data, pf.metadata) or schema_problem(pf.schema_arrow, dataset)
        table = pf.read(use_threads=False) if problem is None else None
    except MemoryError:
        raise  # out of memory is the machine's state, not proof the file is bad
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CorruptFileError(f"unreadable Parquet: {describe(exc)}") from exc
    if table is None:
        raise CorruptFileError(problem or "unreadable Parquet")
    problem = content_problem(table, dataset)
    if problem is not None:
        raise CorruptFileError(problem)
    try:
        # Safe casts only (another writer's int32 for an int16 column, if every value fits).
        return table.select(dataset.schema.names).cast(dataset.schema)
    except (ValueError, pa.ArrowException) as exc:
        raise CorruptFileError(f"schema mismatch: {describe(exc)}") from exc


def data_problem(data: bytes, meta: pq.FileMetaData) -> str | None:
    """Why the bytes before the footer do not match the footer's CRC32 of them, or None.

    Files without the key (written before it existed, or by other writers) pass.
    """
    recorded = (meta.metadata or {}).get(DATA_CRC_KEY.encode())
    if recorded is None:
        return None
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    actual = f"{footer}:{zlib.crc32(memoryview(data)[:footer]):08x}"
    if recorded.decode(errors="replace") != actual:
        return f"data CRC mismatch: {actual} (recorded {recorded.decode(errors='replace')})"
    return None


def schema_problem(schema: pa.Schema, dataset: Dataset) -> str | None:
    """Why a file's schema cannot be read as the dataset's, or None.

    Our own files (they carry lakeconsole metadata) must match exactly, nullability
    and order included: a footer flip from OPTIONAL to REQUIRED would otherwise decode
    definition levels as values. Other writers' files need each column; their types
    need only cast safely (`read_verified` casts them).
    """
    ours = bool(lake_metadata(schema))
    if schema.equals(dataset.schema, check_metadata=False):
        return None
    for expected in dataset.schema:
        if expected.name not in schema.names:
            return f"schema mismatch: column {expected.name} missing"
        actual = schema.field(expected.name)
        if ours and actual.type != expected.type:
            return f"schema mismatch: column {expected.name} is {actual.type}, not {expected.type}"
        if ours and actual.nullable != expected.nullable:
            return f"schema mismatch: column {expected.name} nullable={actual.nullable}"
    if ours:
        return f"schema mismatch: columns {schema.names}, expected {dataset.schema.names}"
    return None


def content_problem(table: pa.Table, dataset: Dataset) -> str | None:
    """Why decoded rows disagree with the footer's lakeconsole metadata, or None.

    Page CRCs do not cover page headers or the footer: a flip there can drop rows or
    shift values without failing the read. The metadata, written from the same rows,
    catches that. Files from other writers (no lakeconsole metadata) skip this check.
    """
    meta = lake_metadata(table.schema)
    if not meta:
        return None
    recorded = {k: meta.get(k) for k in ("schema_id", "rows", "min_ts_event_ns", "max_ts_event_ns")}
    actual = {"schema_id": dataset.schema_id, "rows": str(table.num_rows),
              **_ts_range(table)}
    wrong = [f"{k} {actual[k]!r} (recorded {recorded[k]!r})" for k in recorded
             if recorded[k] != actual[k]]
    return f"content does not match its metadata: {', '.join(wrong)}" if wrong else None


def _ts_range(table: pa.Table) -> dict[str, str]:
    if not table.num_rows:
        return {"min_ts_event_ns": "", "max_ts_event_ns": ""}
    bounds = pc.min_max(table.column("ts_event_ns"))
    return {"min_ts_event_ns": str(bounds["min"].as_py()),
            "max_ts_event_ns": str(bounds["max"].as_py())}


def read_error(storage: Storage, paths: Sequence[str], exc: Exception) -> StorageError:
    """A one-line error for a failed multi-file scan, naming the damaged file if there is one.

    Arrow's messages (a failed CRC above all) do not say which file failed: read each
    alone, with page CRCs checked, until one fails. Only runs once a scan has failed.
    """
    for path in paths:
        problem = _decode_problem(storage, path)
        if problem is not None:
            return CorruptFileError(f"damaged file {storage.url.rstrip('/')}/{path}: {problem}")
    return StorageError(f"cannot read {len(paths)} file(s) of {storage.url}: {describe(exc)}")


def _decode_problem(storage: Storage, path: str) -> str | None:
    """Why one file cannot be decoded whole (pages verified), or None if it can."""
    try:
        data = storage.read_bytes(path)
        pf = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
        pf.read()  # first: a failed page CRC says more than a failed whole-data CRC
    except FileNotFoundError:
        return None  # gone meanwhile: not the damaged one
    except MemoryError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        return describe(exc)
    return data_problem(data, pf.metadata)
