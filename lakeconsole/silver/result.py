"""What one compaction of a (dataset, partition value, date) reports."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

# ok: Silver is current (`unchanged` says nothing had to be written); empty: no rows;
# busy: another process holds the partition; cancelled: stopped before the switch.
Status = Literal["ok", "empty", "failed", "busy", "cancelled"]


@dataclass(frozen=True)
class QuarantinedFile:
    """A Bronze file that could not be read, moved aside with its reason."""

    path: str
    moved_to: str
    reason: str


@dataclass(frozen=True)
class CompactionResult:
    """The outcome of one compaction job; `to_dict` is the contract's result dict."""

    key: str
    dataset: str
    partition: str
    date: str
    status: Status = "failed"
    rows_read: int = 0
    rows_written: int = 0
    duplicates_removed: int = 0
    rows_outside_date: int = 0
    files_read: int = 0
    files_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    quarantined: tuple[QuarantinedFile, ...] = ()
    generation: int | None = None
    silver_rows: int | None = None
    unchanged: bool = False
    error: str | None = None
    # Feed `seq` values missing from the Silver written (all feeds of the partition and
    # date; their ranges are in the ledger); None when nothing was written or recorded.
    feed_gap_seqs: int | None = None
    # With [iceberg] enabled: the commit that followed the switch, or why it failed
    # (Silver is right either way; `lakeconsole iceberg sync` heals the table).
    iceberg: str | None = None

    def but(self, **changes: Any) -> CompactionResult:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (`compact --json`, `compact_date`)."""
        body = dataclasses.asdict(self)
        body["quarantined"] = [dataclasses.asdict(q) for q in self.quarantined]
        return body
