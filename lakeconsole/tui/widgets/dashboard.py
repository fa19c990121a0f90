"""Dashboard widgets: the per-dataset table, the ingest-rate sparkline and the status line."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

from lakeconsole.tui.format import human_age, human_bytes, human_count, human_rate
from lakeconsole.tui.model import DatasetStats


@dataclass(frozen=True)
class Column:
    """A dashboard column: full and short header, and when it goes (highest rank first)."""

    name: str
    short: str
    drop_rank: int


# Narrow terminals first shorten the headers, then drop columns by drop_rank, highest first:
# a number is never cut. The tier is implied by the dataset name; lag and counts stay.
COLUMNS = (
    Column("dataset", "dataset", 0), Column("tier", "tier", 10),
    Column("buffered", "buf", 3), Column("events/s", "ev/s", 2),
    Column("received", "recv", 1), Column("flushes", "fl", 9), Column("files", "files", 8),
    Column("bytes", "bytes", 6), Column("last flush", "last", 5),
    Column("quarantined", "quar", 7), Column("lag", "lag", 4),
)
GAP = 2  # a rich Table with padding (0, 1) and pad_edge=False puts 2 cells between columns


def table_width(widths: list[int]) -> int:
    """Cells a borderless rich Table needs for columns of these widths."""
    return sum(widths) + GAP * max(len(widths) - 1, 0)


def fit_columns(cells: list[list[str]], width: int) -> list[tuple[int, str]]:
    """(column index, header) of the columns that fit `width` cells without cutting a value."""
    def needed(index: int, header: str) -> int:
        return max([len(header), *(len(row[index]) for row in cells)])

    everything = list(range(len(COLUMNS)))
    if table_width([needed(i, COLUMNS[i].name) for i in everything]) <= width:
        return [(i, COLUMNS[i].name) for i in everything]
    keep = everything
    while len(keep) > 1 and table_width([needed(i, COLUMNS[i].short) for i in keep]) > width:
        dropped = max(keep, key=lambda i: COLUMNS[i].drop_rank)
        keep = [i for i in keep if i != dropped]
    return [(i, COLUMNS[i].short) for i in keep]


def row_cells(s: DatasetStats, now: float) -> list[str]:
    """One dataset's counters as the strings the table shows, in COLUMNS order."""
    age = None if s.last_flush_at is None else now - s.last_flush_at
    return [s.name, s.tier, human_count(s.buffered), human_rate(s.rate),
            human_count(s.received), human_count(s.flushes), human_count(s.files),
            human_bytes(s.bytes), human_age(age), human_count(s.quarantined),
            human_count(s.lag)]


class DatasetTable(Static):
    """One row per Bronze and Gold dataset; columns narrow or drop to fit the width."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._last: tuple[list[DatasetStats], float] = ([], 0.0)

    def show(self, rows: list[DatasetStats], now: float) -> None:
        """Render the counters as of `now`."""
        self._last = (rows, now)
        cells = [row_cells(s, now) for s in rows]
        width = self.content_size.width or 10_000  # before the first layout: all columns
        table = Table(expand=True, box=None, header_style="bold", pad_edge=False)
        shown = fit_columns(cells, width)
        for index, header in shown:
            table.add_column(header, justify="left" if index < 2 else "right", no_wrap=True)
        quarantined = [c.name for c in COLUMNS].index("quarantined")
        for s, row in zip(rows, cells, strict=True):
            table.add_row(*(Text(row[i], style="bold red" if i == quarantined and s.quarantined
                                 else "") for i, _ in shown))
        self.update(table)

    def on_resize(self) -> None:
        """Refit the columns at once rather than on the next tick."""
        self.show(*self._last)


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
