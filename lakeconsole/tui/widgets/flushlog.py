"""The scrolling log of flushes, quarantines, compactions and errors."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widgets import RichLog

from lakeconsole.tui.format import clock_time, human_bytes, human_count
from lakeconsole.tui.model import LogEntry

PER_TICK = 200
MAX_LINES = 2000
STYLES = {"flush": "green", "quarantine": "yellow", "error": "bold red", "compaction": "cyan"}


def format_entry(e: LogEntry, local: bool = False) -> Text:
    """`HH:MM:SS kind dataset partition rows bytes ms detail` (76 cells before the detail)."""
    text = Text(f"{clock_time(e.at, local)} ")
    text.append(f"{e.kind:<10}", style=STYLES.get(e.kind, ""))
    text.append(f" {e.dataset:<14} {e.partition:<8}")
    if e.rows is not None:
        text.append(f" {human_count(e.rows):>7} rows")
    if e.bytes is not None:
        text.append(f" {human_bytes(e.bytes):>8}")
    if e.ms is not None:
        text.append(f" {e.ms:6.1f} ms")
    if e.detail and e.kind != "flush":
        text.append(f"  {e.detail}", style=STYLES.get(e.kind, ""))
    return text


class FlushLog(RichLog):
    """A RichLog written in batches on the refresh tick; redrawn when the time zone changes."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=False, markup=False, **kwargs)  # type: ignore[arg-type]
        self.local_time = False
        self.entries: deque[LogEntry] = deque(maxlen=MAX_LINES)  # to redraw in another zone

    def add(self, entries: list[LogEntry]) -> None:
        """Append a batch; in a flood only the newest PER_TICK lines are written."""
        if len(entries) > PER_TICK:
            skipped = len(entries) - PER_TICK
            self.write(Text(f"… {skipped:,} older entries not shown", style="dim"))
            entries = entries[-PER_TICK:]
        self.entries.extend(entries)
        for entry in entries:
            self.write(format_entry(entry, self.local_time))

    def set_local_time(self, local: bool) -> None:
        """Show the stamps in local time (or UTC): the kept entries are written again."""
        if local == self.local_time:
            return
        self.local_time = local
        self.clear()
        for entry in self.entries:
            self.write(format_entry(entry, local))
