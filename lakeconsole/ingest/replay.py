"""Republish quarantined messages to their subject, each at most once.

The order, and why: a durable `publishing` record first, then a JetStream publish carrying
`Nats-Msg-Id: replay-{entry_id}`, then the `done` record with the new stream sequence.

- A crash before the publish leaves `publishing` with nothing sent; a crash after it leaves
  `publishing` with the message stored. The two cannot be told apart from the lake, so a
  `publishing` record is retried only while the stream's duplicate window (default 2 min)
  since it was written has not passed: JetStream drops a second message with the same
  Nats-Msg-Id in that window (the ack says `duplicate`). Later it is refused, naming the
  header to look for: never twice is the promise, so an unknowable case is not guessed.
- Recording after publishing instead would lose the record on a crash in between, and the
  next replay would publish again once the window passed.
- Two consoles replaying the same entry at once both publish the same Nats-Msg-Id: one
  copy is stored.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors

from lakeconsole.errors import describe
from lakeconsole.lake import replays
from lakeconsole.lake.replays import ReplayOutcome, ReplayRecord, ReplayResult
from lakeconsole.query.quarantine import find_entries

if TYPE_CHECKING:
    from lakeconsole.ingest.bus import NATSBus
    from lakeconsole.lake.storage import Storage
    from lakeconsole.query.quarantine import QuarantineEntry

MSG_ID_HEADER = "Nats-Msg-Id"
WINDOW_MARGIN_S = 10.0  # a retry must reach the server well inside the duplicate window


async def replay_ids(bus: NATSBus, storage: Storage, entry_ids: list[str]) -> ReplayResult:
    """Replay the quarantine entries named; an id no longer in quarantine fails, saying so."""
    entries, missing = await asyncio.to_thread(find_entries, storage, entry_ids)
    result = await replay_entries(bus, storage, entries)
    gone = tuple(ReplayOutcome(i, "", "failed", f"{i} is no longer in quarantine")
                 for i in missing)
    return ReplayResult(result.outcomes + gone)


async def replay_entries(
    bus: NATSBus, storage: Storage, entries: list[QuarantineEntry]
) -> ReplayResult:
    """Replay each entry once, in order; every entry gets an outcome, none raises."""
    outcomes = []
    for entry in entries:
        try:
            outcomes.append(await _replay_one(bus, storage, entry))
        except Exception as exc:  # storage or NATS, of any library: reported per entry
            outcomes.append(ReplayOutcome(entry.entry_id, entry.subject, "failed",
                                          describe(exc)))
    return ReplayResult(tuple(outcomes))


async def _replay_one(bus: NATSBus, storage: Storage, entry: QuarantineEntry) -> ReplayOutcome:
    record = await asyncio.to_thread(replays.read_record, storage, entry.entry_id)
    if record is not None:
        refusal = await _refusal(bus, record)
        if refusal:
            return ReplayOutcome(entry.entry_id, entry.subject, "refused", refusal,
                                 record.new_stream_seq)
    else:
        record = ReplayRecord(entry.entry_id, entry.subject, entry.stream_seq, "publishing",
                              time.time_ns())
        await asyncio.to_thread(replays.write_record, storage, record)
    try:
        ack = await bus.js.publish(entry.subject, entry.raw,
                                   headers={MSG_ID_HEADER: record.msg_id})
    except nats.js.errors.NoStreamResponseError:
        # No stream captures the subject: certainly not stored, so the record goes.
        await asyncio.to_thread(replays.delete_record, storage, entry.entry_id)
        return ReplayOutcome(entry.entry_id, entry.subject, "failed",
                             f"no stream captures {entry.subject}")
    done = ReplayRecord(record.entry_id, record.subject, record.stream_seq, "done",
                        record.started_ns, time.time_ns(), int(ack.seq), bool(ack.duplicate))
    await asyncio.to_thread(replays.write_record, storage, done)
    note = " (JetStream had it already)" if ack.duplicate else ""
    return ReplayOutcome(entry.entry_id, entry.subject, "replayed",
                         f"to {entry.subject} as stream seq {ack.seq}{note}", int(ack.seq))


async def _refusal(bus: NATSBus, record: ReplayRecord) -> str:
    """Why an entry with a record must not be published now ("" when a retry is safe)."""
    if record.state == "done":
        return (f"{record.entry_id} already replayed at {_utc(record.done_ns)} "
                f"(stream seq {record.new_stream_seq})")
    window = await _duplicate_window(bus, record.subject)
    age = (time.time_ns() - record.started_ns) / 1e9
    if age < window - WINDOW_MARGIN_S:
        return ""  # JetStream drops the copy if the interrupted publish got through
    return (f"{record.entry_id}: a replay started at {_utc(record.started_ns)} was "
            f"interrupted; it may have been published (look for {MSG_ID_HEADER} "
            f"{record.msg_id} on {record.subject}); delete "
            f"{replays.record_path(record.entry_id)} to allow another")


async def _duplicate_window(bus: NATSBus, subject: str) -> float:
    """The duplicate window of the stream that captures `subject`, in seconds (0: none)."""
    try:
        name = await bus.js.find_stream_name_by_subject(subject)
        info = await bus.js.stream_info(name)
    except (nats.js.errors.Error, nats.errors.Error):
        return 0.0
    return float(info.config.duplicate_window or 0.0)


def _utc(ns: int | None) -> str:
    if ns is None:
        return "?"
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
