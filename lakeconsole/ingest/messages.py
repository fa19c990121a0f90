"""JetStream deliveries and their acknowledgement vocabulary: ``$JS.ACK`` subjects, ack payloads.

A JetStream message carries everything needed to acknowledge it in its reply subject
(``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...``), and acks are plain publishes of a
short payload to that subject. This module owns that vocabulary, independent of any
connection, so buffers and writers can handle `Delivery` values without importing nats.
"""

from __future__ import annotations

from typing import NamedTuple

from lakeconsole.errors import IngestError

ACK_PREFIX = "$JS.ACK."
ACK = b"+ACK"
NAK = b"-NAK"
_NS = 1_000_000_000


class Delivery(NamedTuple):
    """One JetStream message as handed to a consumer handler."""

    subject: str
    data: bytes
    reply: str
    stream_seq: int
    num_delivered: int


def parse_ack_reply(reply: str) -> tuple[str, str, int, int]:
    """Return ``(stream, consumer, num_delivered, stream_seq)`` from a ``$JS.ACK`` subject.

    Handles the 9-token form
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` and the newer
    form with ``<domain>.<account hash>`` after ``ACK`` (11 or 12 tokens).
    """
    tokens = reply.split(".")
    n = len(tokens)
    if n == 9:
        off = 2
    elif n >= 11:
        off = 4
    else:
        raise IngestError(f"not a JetStream ack subject: {reply!r}")
    return tokens[off], tokens[off + 1], int(tokens[off + 2]), int(tokens[off + 3])


def ack_group(reply: str) -> str:
    """The ``$JS.ACK...<stream>.<consumer>`` prefix: acks are ordered per consumer only."""
    tokens = reply.split(".")
    return ".".join(tokens[:4] if len(tokens) == 9 else tokens[:6])


def nak_payload(delay: float | None = None) -> bytes:
    """``-NAK``, with a redelivery delay (seconds, sent as nanoseconds) when given."""
    return NAK if delay is None else NAK + b' {"delay": %d}' % int(delay * _NS)
