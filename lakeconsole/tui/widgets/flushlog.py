"""The scrolling log of flushes, quarantines, compactions and errors."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from lakeconsole.tui.format import human_bytes, human_count
from lakeconsole.tui.model import LogEntry

PER_TICK = 200
STYLES = {"flush": "green", "quarantine": "yellow", "error": "bold red", "compaction": "cyan"}


def format_entry(e: LogEntry) -> Text:
    """`HH:MM:SS kind dataset partition rows bytes ms detail`."""
    stamp = time.strftime("%H:%M:%S", time.gmtime(e.at))
    text = Text(f"{stamp} ")
    text.append(f"{e.kind:<10}", style=STYLES.get(e.kind, ""))
    text.append(f" {e.dataset:<16} {e.partition:<8}")
    if e.rows is not None:
        text.append(f" {human_count(e.rows):>9} rows")
    if e.bytes is not None:
        text.append(f" {human_bytes(e.bytes):>9}")
    if e.ms is not None:
        text.append(f" {e.ms:7.1f} ms")
    if e.detail and e.kind != "flush":
        text.append(f"  {e.detail}", style=STYLES.get(e.kind, ""))
    return text


class FlushLog(RichLog):
    """A RichLog written in batches on the refresh tick."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=2000, wrap=False, markup=False, **kwargs)  # type: ignore[arg-type]

    def add(self, entries: list[LogEntry]) -> None:
        """Append a batch; in a flood only the newest PER_TICK lines are written."""
        if len(entries) > PER_TICK:
            skipped = len(entries) - PER_TICK
            self.write(Text(f"… {skipped:,} older entries not shown", style="dim"))
            entries = entries[-PER_TICK:]
        for entry in entries:
            self.write(format_entry(entry))
