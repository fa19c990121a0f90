"""The NATS side of the completeness ledger: record what each flush received, audit streams.

`record_received` runs on the flush thread after the data files are durable and before the
acks; `audit_stream` reads the stream and consumer state (in that order) and hands them to
`lakeconsole.ledger.audit`, then reports new losses as events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lakeconsole import events as ev
from lakeconsole.errors import IngestError, describe
from lakeconsole.ingest.bus import NATSBus
from lakeconsole.ingest.messages import Delivery
from lakeconsole.lake.storage import Storage
from lakeconsole.ledger import audit, received
from lakeconsole.ledger.audit import AuditResult, Snapshot
from lakeconsole.ledger.received import ReceivedView

log = logging.getLogger(__name__)
AUDIT_INTERVAL_S = 10.0
AUDIT_TIMEOUT_S = 30.0
LOSS_WHERE = "upstream loss"  # the ErrorRaised that accompanies each UpstreamLoss
Emit = Callable[[ev.Event], None]
Targets = Callable[[], Iterable[tuple[str, str]]]  # (stream, durable) pairs to audit
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_CONSUMER_NOT_FOUND = 10014


def reply_ts_ns(reply: str) -> int | None:
    """The NATS timestamp (ns) carried by a `$JS.ACK` reply subject, if it has one."""
    tokens = reply.split(".")
    off = 2 if len(tokens) == 9 else 4
    try:
        return int(tokens[off + 5])
    except (IndexError, ValueError):
        return None


def record_received(
    storage: Storage, stream: str, deliveries: Sequence[Delivery], tier: str
) -> str | None:
    """Write the received ledger entry of messages now durable in the lake (blocking)."""
    if not stream or not deliveries:
        return None
    # Timestamps of run ends only: parsing every reply would cost more than the runs.
    return received.write_seqs(storage, stream, tier, [d.stream_seq for d in deliveries],
                               lambda i: reply_ts_ns(deliveries[i].reply))


def parse_ts_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of a NATS RFC 3339 timestamp; None for the zero time."""
    match = _TS.match(text or "")
    if match is None or text.startswith("0001-"):
        return None
    head, frac, zone = match.groups()
    whole = datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone))
    return int(whole.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def covers(pattern: str, subject: str) -> bool:
    """Whether consumer filter `pattern` matches every subject stream subject `subject` can."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return i < len(s)
        if i >= len(s) or (token == "*" and s[i] == ">") or token not in ("*", s[i]):
            return False
    return len(p) == len(s)


async def _api(bus: NATSBus, subject: str, timeout: float) -> dict[str, Any]:
    """One JetStream API request, answered as JSON (it holds fields nats-py drops)."""
    reply = await bus.nc.request(subject, b"", timeout=timeout)
    data: dict[str, Any] = json.loads(reply.data)
    return data


async def snapshot(
    bus: NATSBus, stream: str, durable: str, timeout: float = 5.0
) -> Snapshot | None:
    """The stream's state, then the consumer's; None if the consumer does not exist yet.

    Raises IngestError when the consumer's filter leaves some of the stream's subjects out
    (sequences it never sees would look lost).
    """
    # Stream first: a sequence gone from the stream before the consumer's delivered
    # position was read can never be delivered (the other order races new deliveries).
    info = await _api(bus, f"$JS.API.STREAM.INFO.{stream}", timeout)
    cinfo = await _api(bus, f"$JS.API.CONSUMER.INFO.{stream}.{durable}", timeout)
    for answer in (info, cinfo):
        error = answer.get("error")
        if isinstance(error, dict):
            if answer is cinfo and error.get("err_code") == _CONSUMER_NOT_FOUND:
                return None
            raise IngestError(f"cannot read {stream}/{durable}: {error.get('description')}")
    state, config = _dict(info, "state"), _dict(info, "config")
    cconfig = _dict(cinfo, "config")
    filters = list(cconfig.get("filter_subjects") or []) or (
        [cconfig["filter_subject"]] if cconfig.get("filter_subject") else [])
    subjects = list(config.get("subjects") or [])
    if filters and not all(any(covers(f, s) for f in filters) for s in subjects):
        raise IngestError(f"consumer {stream}/{durable} filters {filters} do not cover the "
                          f"stream's subjects {subjects}: its completeness is not audited")
    return Snapshot(
        stream,
        first_seq=int(state.get("first_seq") or 0),
        last_seq=int(state.get("last_seq") or 0),
        ack_floor=int(_dict(cinfo, "ack_floor").get("stream_seq") or 0),
        delivered=int(_dict(cinfo, "delivered").get("stream_seq") or 0),
        first_ts_ns=parse_ts_ns(str(state.get("first_ts") or "")),
    )


def _dict(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


@dataclass
class _Memory:
    """What audits on one connection remember between runs, per stream."""

    # A lasting problem (a filter that does not cover the stream, a recreated stream)
    # is said once, not every AUDIT_INTERVAL_S.
    reported: dict[str, str] = field(default_factory=dict)
    # The received ledger as read so far: each audit reads only the files new since.
    views: dict[str, ReceivedView] = field(default_factory=dict)


_memory: weakref.WeakKeyDictionary[NATSBus, _Memory] = weakref.WeakKeyDictionary()


def _problem(bus: NATSBus, stream: str, problem: str, emit: Emit) -> None:
    reported = _memory.setdefault(bus, _Memory()).reported
    if reported.get(stream) == problem:
        log.debug("completeness audit of %s: %s (again)", stream, problem)
        return
    reported[stream] = problem
    emit(ev.ErrorRaised("ledger audit", f"{stream}: {problem}"))


async def audit_stream(
    bus: NATSBus, storage: Storage, stream: str, durable: str, emit: Emit,
    timeout_s: float = AUDIT_TIMEOUT_S,
) -> AuditResult | None:
    """Audit one stream now; report new losses and failures as events, never raise."""
    try:
        snap = await snapshot(bus, stream, durable)
        if snap is None:
            return None
        memory = _memory.setdefault(bus, _Memory())
        view = memory.views.setdefault(stream, ReceivedView(stream))
        # Bounded: a slow lake must not hold up a writer's start (the thread finishes alone).
        result = await asyncio.wait_for(
            asyncio.to_thread(audit.audit, storage, snap, view), timeout_s)
        if result.skipped:  # perhaps only flushes since `snap`: ask the stream again
            now = await snapshot(bus, stream, durable)
            if now is not None and now.last_seq >= result.ledger_top:
                result = await asyncio.wait_for(asyncio.to_thread(
                    audit.audit, storage, snap, view, None, now.last_seq), timeout_s)
    except Exception as exc:  # NATS, storage or a damaged ledger file: the next audit retries
        why = f"not done within {timeout_s:g} s" if isinstance(exc, TimeoutError) else describe(exc)
        # The view may be half-updated, or still in use by a timed-out thread: start afresh.
        _memory.setdefault(bus, _Memory()).views.pop(stream, None)
        _problem(bus, stream, why, emit)
        return None
    if result.skipped:
        _problem(bus, stream, result.skipped, emit)
    else:
        _memory.setdefault(bus, _Memory()).reported.pop(stream, None)
    for loss in result.new_losses:
        emit(ev.UpstreamLoss(loss.stream, loss.first_seq, loss.last_seq, loss.count, loss.cause))
        emit(ev.ErrorRaised(LOSS_WHERE, f"{loss.stream} sequences {loss.first_seq}.."
                            f"{loss.last_seq} ({loss.count} messages) never reached the lake: "
                            f"{loss.cause}"))
    if result.merged_into:
        log.info("ledger of %s: merged %d files into %s", stream, result.files_read,
                 result.merged_into)
    return result


async def audit_loop(bus: NATSBus, storage: Storage, targets: Targets, emit: Emit,
                     interval_s: float | None = None) -> None:
    """Audit every target stream now, then every `interval_s` seconds, forever."""
    while True:
        for stream, durable in list(targets()):
            if bus.is_connected:  # while disconnected the connection state says enough
                await audit_stream(bus, storage, stream, durable, emit)
        await asyncio.sleep(interval_s if interval_s is not None else AUDIT_INTERVAL_S)
