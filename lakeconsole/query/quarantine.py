"""Reading the quarantine tier: counts per subject and reason, entries with their raw bytes."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from lakeconsole.errors import CorruptFileError, describe
from lakeconsole.lake.quarantine import SCHEMA
from lakeconsole.lake.replays import ReplayRecord, all_records

if TYPE_CHECKING:
    from lakeconsole.lake.storage import Storage

ROOT = "quarantine"
ENTRY_LIMIT = 1000  # entries (with their payloads) the view loads, newest files first
# A number on its own (`element 3:`, `byte 4`, `=300`), not part of a name (`UTF-8`, `0xff`).
_NUMBER = re.compile(r"(?<![\w.\-])\d+(?![\w.])")


@dataclass(frozen=True)
class QuarantineEntry:
    """One quarantined payload; rows of the same message and bytes share it (and its id)."""

    entry_id: str
    subject: str
    stream_seq: int
    received_ns: int
    reason: str
    raw: bytes
    path: str  # the file of its newest row
    rows: int = 1
    replay: ReplayRecord | None = None

    @property
    def replay_state(self) -> str:
        """`""`, `replayed` or `interrupted` (published or not: JetStream may know)."""
        if self.replay is None:
            return ""
        return "replayed" if self.replay.state == "done" else "interrupted"


@dataclass(frozen=True)
class ReasonCount:
    """Rows of one subject with one kind of reason (numbers folded to N)."""

    subject: str
    reason: str
    rows: int


@dataclass(frozen=True)
class QuarantineView:
    """Counts over the whole tier and the newest entries."""

    counts: tuple[ReasonCount, ...]
    entries: tuple[QuarantineEntry, ...]
    rows: int
    files: int
    truncated: bool  # more entries than ENTRY_LIMIT: the oldest are not listed


def entry_id(subject: str, stream_seq: int, raw: bytes) -> str:
    """A stable id of a quarantined message: the same bytes from the same stream position.

    Rows from a redelivered message, or from several bad rows of one message (each keeps
    the whole message), get the same id: replaying it once covers them all.
    """
    digest = hashlib.sha256(f"{subject}\0{stream_seq}\0".encode() + raw)
    return digest.hexdigest()[:16]


def reason_kind(reason: str) -> str:
    """A reason with its numbers folded, so `element 3: …` and `element 7: …` count together."""
    return _NUMBER.sub("N", reason)


def quarantine_files(storage: Storage) -> list[str]:
    """The quarantine tier's message files (not Bronze files moved aside by compaction)."""
    return [f.path for f in storage.files(ROOT)
            if f.path.count("/") == 3 and f.path.split("/")[2].startswith("date=")]


def read_view(storage: Storage, limit: int = ENTRY_LIMIT) -> QuarantineView:
    """Counts per (subject, reason kind) over every file; the newest `limit` entries."""
    paths = quarantine_files(storage)
    counts: Counter[tuple[str, str]] = Counter()
    entries: dict[str, QuarantineEntry] = {}
    truncated = False
    for path in sorted(paths, key=_write_order, reverse=True):
        want_raw = len(entries) < limit
        table = read_file(storage, path, raw=want_raw)
        for subject, reason in zip(table.column("subject").to_pylist(),
                                   table.column("reason").to_pylist(), strict=True):
            counts[(str(subject), reason_kind(str(reason)))] += 1
        if want_raw:
            _merge(entries, _entries(path, table))
        else:
            truncated = True
    replays = all_records(storage) if entries else {}
    listed = [replace(e, replay=replays.get(e.entry_id)) for e in entries.values()]
    listed.sort(key=lambda e: (-e.received_ns, e.subject, e.stream_seq))
    return QuarantineView(
        counts=tuple(ReasonCount(s, r, n) for (s, r), n in
                     sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))),
        entries=tuple(listed[:limit]),
        rows=sum(counts.values()),
        files=len(paths),
        truncated=truncated or len(listed) > limit,
    )


def find_entries(storage: Storage, ids: list[str]) -> tuple[list[QuarantineEntry], list[str]]:
    """The entries with these ids (reading every quarantine file), and the ids not found."""
    wanted = set(ids)
    found: dict[str, QuarantineEntry] = {}
    for path in quarantine_files(storage):
        _merge(found, [e for e in _entries(path, read_file(storage, path)) if e.entry_id in wanted])
    return [found[i] for i in ids if i in found], [i for i in ids if i not in found]


def read_file(storage: Storage, path: str, raw: bool = True) -> pa.Table:
    """One quarantine file in the quarantine.v1 schema (without `raw` unless asked)."""
    names = SCHEMA.names if raw else [n for n in SCHEMA.names if n != "raw"]
    try:
        with storage.open(path) as fh:
            table = pq.read_table(fh, columns=names)
        return table.cast(pa.schema([SCHEMA.field(n) for n in names]))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise CorruptFileError(f"cannot read quarantine file {path}: {describe(exc)}") from exc


def pretty_payload(raw: bytes) -> tuple[str, str]:
    """(`json` | `text` | `hex`, the payload whole): indented JSON when it parses."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", hex_dump(raw)
    try:
        return "json", json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return "text", text


def hex_dump(raw: bytes, width: int = 16) -> str:
    """`00000000  7b 22 74 …  |{"t…|`, every byte, `width` per line."""
    lines = []
    for offset in range(0, len(raw), width):
        chunk = raw[offset:offset + width]
        hexes = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes}  |{text}|")
    return "\n".join(lines)


def _write_order(path: str) -> tuple[str, str]:
    """(date directory, file name): names start with the UTC write time."""
    parts = path.split("/")
    return parts[-2], parts[-1]


def _entries(path: str, table: pa.Table) -> list[QuarantineEntry]:
    out = []
    for row in table.to_pylist():
        out.append(QuarantineEntry(
            entry_id=entry_id(row["subject"], row["stream_seq"], row["raw"]),
            subject=row["subject"], stream_seq=row["stream_seq"],
            received_ns=row["received_ns"], reason=row["reason"], raw=row["raw"], path=path,
        ))
    return out


def _merge(into: dict[str, QuarantineEntry], entries: list[QuarantineEntry]) -> None:
    """Fold rows of one message into one entry: the newest row's reason, all rows counted."""
    for entry in entries:
        seen = into.get(entry.entry_id)
        if seen is None:
            into[entry.entry_id] = entry
            continue
        newest = entry if entry.received_ns > seen.received_ns else seen
        into[entry.entry_id] = replace(newest, rows=seen.rows + entry.rows)
