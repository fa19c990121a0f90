"""The quarantine view and replay, end to end: real nats-server, real Service, real lake.

Replay scenario: a limit quarantines a message (`nats.max_message_bytes` too small for a
batch); the limit is relaxed (a new Service with the default); the entry is replayed, lands
on its subject and in Bronze; a second replay is refused, also after a restart.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import nats
import pytest

from lakeconsole.lake import replays
from lakeconsole.lake.replays import ReplayRecord
from lakeconsole.lake.storage import Storage
from lakeconsole.query.quarantine import pretty_payload, read_view
from lakeconsole.service import Service
from tests.ingest.helpers import BASE_NS, encode, read_tier, settings_for, trade, wait_for
from tests.ingest.test_poison import SUBJECT, ingest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_the_view_counts_real_quarantined_messages(tmp_path, nats_url, caplog) -> None:
    """Not JSON, a missing field (twice), invalid UTF-8: counts per reason, payloads whole."""
    not_utf8 = encode(trade(9, BASE_NS, symbol="ZZZZ")).replace(b"ZZZZ", b"\xff\xfeAB")
    missing = [encode({"symbol": "SPY", "seq": i}) for i in range(2)]
    messages = [encode(trade(0, BASE_NS)), b"hello", *missing, not_utf8]
    _, quarantine, _ = await ingest(tmp_path, nats_url, messages, caplog)
    assert quarantine.num_rows == 4
    view = read_view(Storage(str(tmp_path / "lake")))
    assert view.rows == 4 and len(view.entries) == 4 and not view.truncated
    counts = {(c.subject, c.reason): c.rows for c in view.counts}
    assert sum(counts.values()) == 4 and {s for s, _ in counts} == {SUBJECT}
    assert max(counts.values()) == 2  # the two missing-field messages share a reason
    by_seq = {e.stream_seq: e for e in view.entries}
    assert by_seq[2].raw == b"hello" and pretty_payload(by_seq[2].raw) == ("text", "hello")
    kind, text = pretty_payload(by_seq[3].raw)
    assert kind == "json" and text.startswith('{\n  "symbol": "SPY"')
    kind, text = pretty_payload(by_seq[5].raw)
    assert kind == "hex" and by_seq[5].raw == not_utf8
    # The dump holds every byte: read back from its hex columns it is the payload.
    assert bytes.fromhex("".join(line[10:57] for line in text.splitlines())) == not_utf8
    assert "UTF-8" in by_seq[5].reason
    assert all(e.replay_state == "" for e in view.entries)


async def _subscribe(url: str, subject: str) -> tuple[Any, list[Any]]:
    nc = await nats.connect(url)
    got: list[Any] = []

    async def on_msg(msg: Any) -> None:
        got.append(msg)

    await nc.subscribe(subject, cb=on_msg)
    await nc.flush()
    return nc, got


async def _run(settings: Any) -> Service:
    service = Service(settings)
    await service.start()
    return service


async def test_replay_after_the_limit_is_relaxed(tmp_path: Path, nats_url: str, caplog) -> None:
    """Quarantined for size, replayed once after the fix; refused again, also after restart."""
    batch = encode([trade(100 + i, BASE_NS + i) for i in range(5)])
    assert len(batch) > 300
    _, quarantine, _ = await ingest(tmp_path, nats_url, [encode(trade(0, BASE_NS)), batch],
                                    caplog, **{"nats.max_message_bytes": 300})
    assert quarantine.column("stream_seq").to_pylist() == [2]
    lake = tmp_path / "lake"
    storage = Storage(str(lake))
    (entry,) = read_view(storage).entries
    assert "exceeds nats.max_message_bytes" in entry.reason

    settings = settings_for(lake, nats_url, **{"bronze.max_age_s": 0.3})  # the default limit
    nc, got = await _subscribe(nats_url, SUBJECT)
    service = await _run(settings)
    try:
        result = await service.replay([entry.entry_id])
        assert [o.status for o in result.outcomes] == ["replayed"], result.summary()
        assert result.outcomes[0].new_stream_seq == 3
        await wait_for(lambda: len(got) == 1)
        assert got[0].data == batch
        assert got[0].headers == {"Nats-Msg-Id": f"replay-{entry.entry_id}"}
        await wait_for(lambda: 104 in read_tier(lake, "bronze/stocks/trades")
                       .column("seq").to_pylist() if read_tier(lake, "bronze").num_rows else False)
        again = await service.replay([entry.entry_id])
        assert [o.status for o in again.outcomes] == ["refused"]
        assert "already replayed" in again.summary() and "stream seq 3" in again.summary()
    finally:
        await service.stop()
    bronze = read_tier(lake, "bronze/stocks/trades")
    assert sorted(bronze.column("seq").to_pylist()) == [0, 100, 101, 102, 103, 104]

    record = replays.read_record(storage, entry.entry_id)
    assert record is not None and record.state == "done" and record.new_stream_seq == 3
    (marked,) = read_view(storage).entries
    assert marked.replay_state == "replayed"

    service = await _run(settings)  # a restart: the record is on storage, not in memory
    try:
        after = await service.replay([entry.entry_id, "0" * 16])
    finally:
        await service.stop()
    assert [o.status for o in after.outcomes] == ["refused", "failed"]
    assert "no longer in quarantine" in after.outcomes[1].detail
    await asyncio.sleep(0.3)
    assert len(got) == 1  # nothing else was published to the subject
    await nc.close()


async def test_an_interrupted_replay_is_retried_in_the_window_and_refused_after(
    tmp_path: Path, nats_url: str, caplog
) -> None:
    """Crash after the publish: the retry is deduplicated; an old interruption is refused."""
    messages = [encode(trade(0, BASE_NS)), b"not json 1", b"not json 2"]
    await ingest(tmp_path, nats_url, messages, caplog)
    lake = tmp_path / "lake"
    storage = Storage(str(lake))
    first, second = sorted(read_view(storage).entries, key=lambda e: e.stream_seq)
    # The crash: a `publishing` record, and the message already stored under its Nats-Msg-Id.
    now = time.time_ns()
    replays.write_record(storage, ReplayRecord(first.entry_id, SUBJECT, first.stream_seq,
                                               "publishing", now))
    nc = await nats.connect(nats_url)
    ack = await nc.jetstream().publish(SUBJECT, first.raw,
                                       headers={"Nats-Msg-Id": f"replay-{first.entry_id}"})
    await nc.close()
    # An interruption older than the stream's duplicate window (2 min) cannot be retried.
    replays.write_record(storage, ReplayRecord(second.entry_id, SUBJECT, second.stream_seq,
                                               "publishing", now - 600 * 10**9))
    service = await _run(settings_for(lake, nats_url, **{"bronze.max_age_s": 0.3}))
    try:
        result = await service.replay([first.entry_id, second.entry_id])
        stream = await service.bus.js.stream_info("MARKET")
    finally:
        await service.stop()
    done, refused = result.outcomes
    assert done.status == "replayed" and done.new_stream_seq == ack.seq
    assert "had it already" in done.detail
    assert stream.state.messages == 4  # three published, one replay: no second copy
    assert refused.status == "refused" and "interrupted" in refused.detail
    assert f"replay-{second.entry_id}" in refused.detail
    # Still not JSON: the replayed copy is quarantined again, a new entry (new stream seq).
    state = {e.stream_seq: e.replay_state for e in read_view(storage).entries}
    assert state == {first.stream_seq: "replayed", second.stream_seq: "interrupted",
                     ack.seq: ""}
