"""Quarantine reasons (free text) folded into a few kinds, for a metric label."""

from __future__ import annotations

# First match wins; the texts are the writers' and the contract's reason strings.
_KINDS: tuple[tuple[str, str], ...] = (
    ("not valid json", "not_json"),
    ("not valid utf-8", "not_json"),
    ("unknown subject", "unknown_subject"),
    ("exceeds nats.max_message_bytes", "too_large"),
    ("holds no events", "no_events"),
    ("ts_event_ns outside", "event_time_out_of_range"),
    ("directory name", "bad_partition_value"),
    ("not written after", "undeliverable"),
    ("cannot be handled", "handler_error"),
)


def reason_kind(reason: str) -> str:
    """`not_json`, `unknown_subject`, … or `invalid` (a schema violation) for the rest."""
    lowered = reason.lower()
    for needle, kind in _KINDS:
        if needle in lowered:
            return kind
    return "invalid"
