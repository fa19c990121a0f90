"""Dashboard widgets: the per-dataset table, the ingest-rate sparkline and the status line."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

from lakeconsole.tui.format import human_age, human_bytes, human_count, human_rate
from lakeconsole.tui.model import DatasetStats

COLUMNS = ("dataset", "tier", "buffered", "events/s", "received", "flushes", "files", "bytes",
           "last flush", "quarantined", "lag")


class DatasetTable(Static):
    """One row per Bronze and Gold dataset."""

    def show(self, rows: list[DatasetStats], now: float) -> None:
        """Render the counters as of `now`."""
        table = Table(expand=True, box=None, header_style="bold", pad_edge=False)
        for i, name in enumerate(COLUMNS):
            table.add_column(name, justify="left" if i < 2 else "right", no_wrap=True)
        for s in rows:
            age = None if s.last_flush_at is None else now - s.last_flush_at
            table.add_row(
                s.name, s.tier, human_count(s.buffered), human_rate(s.rate),
                human_count(s.received), human_count(s.flushes), human_count(s.files),
                human_bytes(s.bytes), human_age(age),
                Text(human_count(s.quarantined), style="bold red" if s.quarantined else ""),
                human_count(s.lag),
            )
        self.update(table)


class RatePanel(Vertical):
    """A sparkline of the total ingest rate with its current value."""

    def compose(self) -> ComposeResult:
        """A label over the sparkline."""
        yield Label("ingest rate", id="rate-label")
        yield Sparkline([], id="rate-sparkline")

    def show(self, history: list[float]) -> None:
        """Plot the history; the label shows the latest value and the peak."""
        self.query_one(Sparkline).data = history
        latest = history[-1] if history else 0.0
        peak = max(history, default=0.0)
        self.query_one(Label).update(
            f"ingest rate  {human_rate(latest)}  (peak {human_rate(peak)})"
        )


class StatusLine(Static):
    """NATS connection state, storage backend and root, errors."""

    def show(self, connection: str, detail: str, backend: str, root: str, errors: int,
             last_error: str, busy: str = "") -> None:
        """Render the status; red when disconnected or after an error."""
        ok = connection in ("connected", "reconnected")
        text = Text()
        text.append(" NATS ", style="bold")
        text.append(connection + (f" ({detail})" if detail else ""),
                    style="bold green" if ok else "bold yellow")
        text.append("   storage ", style="bold")
        text.append(f"{backend} {root}")
        if busy:
            text.append(f"   {busy}", style="bold cyan")
        if errors:
            text.append(f"   errors {errors}: ", style="bold red")
            text.append(last_error[:120], style="red")
        self.set_class(bool(errors) or connection in ("disconnected", "closed", "failed"),
                       "-error")
        self.update(text)
