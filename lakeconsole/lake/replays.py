"""Replays of quarantined messages: one durable record per entry, so none is replayed twice.

`{root}/_ledger/replays/{entry_id}.json`, hidden from readers like every `_` name. A record
is written as `publishing` before the message is published and rewritten as `done` (with
the new stream sequence) after JetStream acknowledged it; see `ingest/replay.py` for why.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Literal

from lakeconsole.errors import CorruptFileError, describe
from lakeconsole.lake.storage import TEMP_PREFIX

if TYPE_CHECKING:
    from lakeconsole.lake.storage import Storage

ROOT = "_ledger/replays"
MSG_ID_PREFIX = "replay-"
State = Literal["publishing", "done"]
Status = Literal["replayed", "refused", "failed"]


@dataclass(frozen=True)
class ReplayRecord:
    """The durable state of one entry's replay."""

    entry_id: str
    subject: str
    stream_seq: int  # the quarantined message's original stream sequence
    state: State
    started_ns: int
    done_ns: int | None = None
    new_stream_seq: int | None = None  # where the replayed copy landed
    duplicate: bool = False  # JetStream had it already (a retried publish)

    @property
    def msg_id(self) -> str:
        """The Nats-Msg-Id every publish of this entry carries (JetStream dedups on it)."""
        return MSG_ID_PREFIX + self.entry_id


@dataclass(frozen=True)
class ReplayOutcome:
    """What happened to one entry asked to be replayed."""

    entry_id: str
    subject: str
    status: Status
    detail: str = ""
    new_stream_seq: int | None = None


@dataclass(frozen=True)
class ReplayResult:
    """The outcome of one replay request, entry by entry."""

    outcomes: tuple[ReplayOutcome, ...] = field(default_factory=tuple)

    def of(self, status: Status) -> list[ReplayOutcome]:
        """The outcomes with one status."""
        return [o for o in self.outcomes if o.status == status]

    def summary(self) -> str:
        """`replayed 2, refused 1: … already replayed at … (stream seq 812)`."""
        parts = [f"{s} {len(self.of(s))}" for s in ("replayed", "refused", "failed")
                 if self.of(s)]
        # The first problem if any, else where the first one went.
        first = next((o for o in self.outcomes if o.status != "replayed"),
                     self.outcomes[0] if self.outcomes else None)
        text = ", ".join(parts) or "nothing to replay"
        return f"{text}: {first.detail}" if first is not None else text


def record_path(entry_id: str) -> str:
    """Where the record of one entry lives."""
    return f"{ROOT}/{entry_id}.json"


def write_record(storage: Storage, record: ReplayRecord) -> None:
    """Publish a record atomically (it replaces the entry's previous state)."""
    storage.write_atomic(record_path(record.entry_id), json.dumps(asdict(record)).encode())


def delete_record(storage: Storage, entry_id: str) -> None:
    """Forget a replay that certainly did not publish (no stream took the subject)."""
    storage.delete([record_path(entry_id)])


def read_record(storage: Storage, entry_id: str) -> ReplayRecord | None:
    """The record of one entry, or None when it was never replayed."""
    try:
        data = storage.read_bytes(record_path(entry_id))
    except FileNotFoundError:
        return None
    return _parse(record_path(entry_id), data)


def all_records(storage: Storage) -> dict[str, ReplayRecord]:
    """Every replay record, by entry id."""
    found = storage.files(ROOT, hidden=True)
    out = {}
    for info in found:
        name = info.path.rsplit("/", 1)[-1]
        if not name.endswith(".json") or name.startswith(TEMP_PREFIX):
            continue
        try:
            record = _parse(info.path, storage.read_bytes(info.path))
        except FileNotFoundError:
            continue
        out[record.entry_id] = record
    return out


def _parse(path: str, data: bytes) -> ReplayRecord:
    try:
        return ReplayRecord(**json.loads(data))
    except (ValueError, TypeError) as exc:
        raise CorruptFileError(f"damaged replay record {path}: {describe(exc)}") from exc
