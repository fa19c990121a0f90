"""The audit's judgement, on a real lake directory: what counts as lost and what does not."""

from __future__ import annotations

from pathlib import Path

from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import audit, received
from lakeconsole.ledger.audit import Snapshot
from lakeconsole.ledger.losses import read_losses
from lakeconsole.ledger.received import Span

DISCARDED = "discarded or purged upstream (stream first_seq now 201)"


def _snap(first: int, last: int, floor: int, delivered: int, ts: int | None = None) -> Snapshot:
    return Snapshot("S", first, last, floor, delivered, ts)


def test_discarded_while_stopped_is_an_exact_loss(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_received(storage, "S", [Span(1, 100, "bronze", 1_000, 100_000)])
    received.write_start(storage, "S", 1)
    # Stopped at 100; 101..300 published; max_msgs=100 kept 201..300; nothing delivered yet.
    result = audit.audit(storage, _snap(201, 300, 100, 100, ts=201_000))
    assert [(x.first_seq, x.last_seq, x.count, x.cause) for x in result.new_losses] == [
        (101, 200, 100, DISCARDED)]
    loss = result.new_losses[0]
    assert (loss.ts_before_ns, loss.ts_after_ns) == (100_000, 201_000)
    assert read_losses(storage) == result.new_losses
    # Judged again later (floor moved past the gap): nothing new.
    received.write_received(storage, "S", [Span(201, 300, "bronze")])
    assert audit.audit(storage, _snap(201, 300, 300, 300)).new_losses == []


def test_the_same_loss_seen_by_the_ack_floor_after_delivery(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_start(storage, "S", 1)
    received.write_received(storage, "S", [Span(1, 100, "bronze"), Span(201, 300, "bronze")])
    result = audit.audit(storage, _snap(201, 300, 300, 300))
    assert [(x.first_seq, x.last_seq) for x in result.new_losses] == [(101, 200)]


def test_in_flight_and_undelivered_sequences_are_not_losses(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_start(storage, "S", 1)
    received.write_received(storage, "S", [Span(1, 50, "gold")])
    # Delivered up to 80 (51..80 in a buffer, not yet flushed), stream holds 1..500.
    assert audit.audit(storage, _snap(1, 500, 50, 80)).new_losses == []


def test_a_skipped_sequence_above_first_seq(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_start(storage, "S", 1)
    received.write_received(storage, "S", [Span(1, 9, "bronze"), Span(11, 20, "quarantine")])
    losses = audit.audit(storage, _snap(1, 20, 20, 20)).new_losses
    assert [(x.first_seq, x.last_seq, x.cause) for x in losses] == [
        (10, 10, "skipped by the consumer")]


def test_a_gap_across_first_seq_is_split_by_cause(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_start(storage, "S", 1)
    received.write_received(storage, "S", [Span(1, 5, "bronze"), Span(12, 12, "bronze")])
    losses = audit.audit(storage, _snap(8, 12, 12, 12)).new_losses
    assert [(x.first_seq, x.last_seq) for x in losses] == [(6, 7), (8, 11)]
    assert "first_seq now 8" in losses[0].cause and losses[1].cause == "skipped by the consumer"


def test_a_lake_older_than_the_ledger_is_not_judged(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    # The durable had acked 1..1000 before the ledger existed; nothing recorded since.
    result = audit.audit(storage, _snap(1, 1000, 1000, 1000))
    assert result.start == 1001 and result.new_losses == []
    assert received.read_start(storage, "S") == 1001


def test_a_fresh_consumer_starts_at_the_stream_first_message(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    assert audit.audit(storage, _snap(5000, 6000, 0, 0)).start == 5000
    assert audit.audit(storage, _snap(5000, 6000, 0, 0)).new_losses == []


def test_a_recreated_stream_is_not_judged(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_start(storage, "S", 1)
    received.write_received(storage, "S", [Span(1, 100, "bronze")])
    result = audit.audit(storage, _snap(1, 10, 10, 10))
    assert result.skipped and result.new_losses == [] and read_losses(storage) == []


def test_a_ledger_ahead_of_an_older_snapshot_is_judged_with_the_stream_as_it_is_now(
    tmp_path: Path,
) -> None:
    """Flushes during the audit put sequences in the ledger that `snap` has not seen."""
    storage = Storage(str(tmp_path))
    received.write_start(storage, "S", 1)
    received.write_received(storage, "S", [Span(1, 40, "bronze"), Span(46, 120, "bronze")])
    result = audit.audit(storage, _snap(1, 100, 100, 100), last_seq_now=130)
    assert not result.skipped and result.ledger_top == 120
    assert [(x.first_seq, x.last_seq) for x in result.new_losses] == [(41, 45)]


def test_the_audit_merges_many_ledger_files(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    received.write_start(storage, "S", 1)
    for i in range(audit.MERGE_AT):
        received.write_received(storage, "S", [Span(10 * i + 1, 10 * i + 10, "bronze")])
    result = audit.audit(storage, _snap(1, 160, 160, 160))
    assert result.merged_into is not None and result.new_losses == []
    assert received.read_received(storage, "S") == [Span(1, 160, "bronze")]
    view = received.ReceivedView("S")
    view.refresh(storage)
    assert len(view.paths) == 1


def test_a_stream_that_never_held_a_message_starts_no_ledger(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path))
    assert audit.audit(storage, _snap(0, 0, 0, 0)).new_losses == []
    assert received.read_start(storage, "S") is None
    assert audit.audit(storage, _snap(1, 10, 0, 0)).start == 1
