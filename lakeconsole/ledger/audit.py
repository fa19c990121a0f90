"""The completeness audit: which stream sequences the lake should have, and which it lost.

Every sequence at or below the consumer's ack floor was either written to the lake (and
recorded in the received ledger before its ack) or never reached it. Sequences below the
stream's first sequence that the consumer never got delivered can never reach it either.
The ack floor is consumer-wide: instances sharing one durable, restarts and redeliveries
all leave it honest, so none of them can make a false gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import intervals, losses, received
from lakeconsole.ledger.intervals import Interval
from lakeconsole.ledger.losses import Loss
from lakeconsole.ledger.received import ReceivedView, Span

MERGE_AT = 16  # received files of a stream before an audit merges them into one


@dataclass(frozen=True)
class Snapshot:
    """A stream's and its durable consumer's state, read in that order (see `audit`)."""

    stream: str
    first_seq: int  # the stream's first stored sequence
    last_seq: int
    ack_floor: int  # the consumer's ack floor, as a stream sequence
    delivered: int  # the highest stream sequence the consumer delivered
    first_ts_ns: int | None = None  # NATS timestamp of the stream's first message


@dataclass
class AuditResult:
    """What one audit of a stream found and did."""

    stream: str
    start: int
    new_losses: list[Loss] = field(default_factory=list)
    files_read: int = 0
    merged_into: str | None = None
    skipped: str = ""  # why nothing was judged (a stream that went back in sequence)
    ledger_top: int = 0  # the highest sequence the ledger holds


def choose_start(snap: Snapshot, spans: list[Span]) -> int:
    """Where a new ledger starts: what the lake already holds is not judged.

    A consumer that acked something had the lake read everything up to its ack floor
    before the ledger existed; a fresh one starts at the stream's first message.
    """
    start = snap.ack_floor + 1 if snap.ack_floor > 0 else snap.first_seq
    if spans:
        start = min(start, min(s.first_seq for s in spans))
    return max(1, start)


def judged(snap: Snapshot, start: int) -> list[Interval]:
    """Sequences whose fate is settled: up to the ack floor, and gone before delivery."""
    ranges = [(start, snap.ack_floor), (max(start, snap.delivered + 1), snap.first_seq - 1)]
    return intervals.union(ranges)


def find_losses(
    snap: Snapshot, spans: list[Span], known: list[Loss], start: int, now_ns: int
) -> list[Loss]:
    """New losses: judged sequences neither received nor already recorded as lost."""
    covered = intervals.union(
        [(s.first_seq, s.last_seq) for s in spans] + [(x.first_seq, x.last_seq) for x in known]
    )
    gaps = [g for lo, hi in judged(snap, start) for g in intervals.missing(covered, lo, hi)]
    before = {s.last_seq: s.last_ts_ns for s in spans}
    after = {s.first_seq: s.first_ts_ns for s in spans}
    if snap.first_ts_ns is not None:
        after.setdefault(snap.first_seq, snap.first_ts_ns)
    out = []
    for lo, hi in _split(gaps, snap.first_seq):
        cause = (f"discarded or purged upstream (stream first_seq now {snap.first_seq})"
                 if hi < snap.first_seq else "skipped by the consumer")
        out.append(Loss(snap.stream, lo, hi, hi - lo + 1, now_ns,
                        before.get(lo - 1), after.get(hi + 1), cause))
    return out


def _split(gaps: list[Interval], at: int) -> list[Interval]:
    """Gaps cut at `at`: the part below it and the part from it on have different causes."""
    out: list[Interval] = []
    for lo, hi in gaps:
        if lo < at <= hi:
            out += [(lo, at - 1), (at, hi)]
        else:
            out.append((lo, hi))
    return out


def audit(
    storage: Storage,
    snap: Snapshot,
    view: ReceivedView | None = None,
    now_ns: int | None = None,
    last_seq_now: int | None = None,
) -> AuditResult:
    """Judge a stream against the ledger, record new losses, merge small ledger files.

    `snap` must be read before this call, stream first: the ledger read here then holds
    every sequence acked when the snapshot was taken (the ledger is written before acks).
    `view`: the stream's received ledger as read by an earlier audit (only new files are
    read), or None to read it all. `last_seq_now`: the stream's last sequence read after
    the ledger; without it, a ledger ahead of `snap` is taken for a reset stream.
    """
    view = view if view is not None else ReceivedView(snap.stream)
    view.refresh(storage)
    spans = view.spans()
    start = received.read_start(storage, snap.stream)
    if start is None and snap.last_seq == 0 and not spans:
        return AuditResult(snap.stream, 1)  # a stream that never held a message: no ledger yet
    if start is None:
        start = choose_start(snap, spans)
        received.write_start(storage, snap.stream, start)
    result = AuditResult(snap.stream, start, files_read=len(view.paths))
    result.ledger_top = top = max((s.last_seq for s in spans), default=0)
    # Flushes go on while the audit reads: the ledger may hold sequences stored after
    # `snap` was taken. Only a ledger ahead of the stream as it is now means a reset.
    if top > (last_seq_now if last_seq_now is not None else snap.last_seq):
        # The stream was recreated (its sequences restarted): the ledger cannot judge it.
        result.skipped = (f"stream {snap.stream} is behind the lake's ledger: "
                          "it was recreated or reset")
        return result
    known = losses.read_losses(storage, snap.stream)
    result.new_losses = find_losses(snap, spans, known, start, now_ns or time.time_ns())
    for loss in result.new_losses:
        losses.write_loss(storage, loss)
    if len(view.paths) >= MERGE_AT:
        result.merged_into = received.merge(storage, view)
    return result
