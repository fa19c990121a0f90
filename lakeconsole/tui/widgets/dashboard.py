"""Dashboard widgets: the per-dataset table, the rate sparklines and the status line."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Static

from lakeconsole.tui import ratespark
from lakeconsole.tui.format import human_age, human_bytes, human_count, human_rate
from lakeconsole.tui.model import ConsumerStats, DatasetStats


@dataclass(frozen=True)
class Column:
    """A dashboard column: full and short header, and when it goes (highest rank first)."""

    name: str
    short: str
    drop_rank: int


# Narrow terminals first shorten the headers, then drop columns by drop_rank, highest first:
# a number is never cut. The tier is implied by the dataset name; counts stay. Consumer lag
# is per consumer (one per tier), not per dataset: it is the table's subtitle.
COLUMNS = (
    Column("dataset", "dataset", 0), Column("tier", "tier", 10),
    Column("buffered", "buf", 3), Column("events/s", "ev/s", 2),
    Column("received", "recv", 1), Column("flushes", "fl", 9), Column("files", "files", 8),
    Column("bytes", "bytes", 6), Column("last flush", "last", 5),
    Column("quarantined", "quar", 7),
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
            human_bytes(s.bytes), human_age(age), human_count(s.quarantined)]


def consumer_summary(consumers: list[ConsumerStats]) -> str:
    """`lag: lake-bronze 1,234 (5 unacked, 2 redelivered) · lake-gold 0`; zeros left out."""
    parts = []
    for c in consumers:
        extra = [f"{human_count(n)} {what}" for n, what in
                 ((c.ack_pending, "unacked"), (c.redelivered, "redelivered")) if n]
        parts.append(f"{c.consumer} {human_count(c.pending)}"
                     + (f" ({', '.join(extra)})" if extra else ""))
    return "lag: " + " · ".join(parts) if parts else ""


class DatasetTable(Static):
    """One row per Bronze and Gold dataset; columns narrow or drop to fit the width."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._last: tuple[list[DatasetStats], float] = ([], 0.0)

    def show(self, rows: list[DatasetStats], now: float,
             consumers: list[ConsumerStats] | None = None) -> None:
        """Render the counters as of `now`; each consumer's lag goes in the subtitle."""
        self._last = (rows, now)
        if consumers is not None:
            self.border_subtitle = consumer_summary(consumers)
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
    """The total ingest rate, and one sparkline per dataset over the last minute, each
    with its scale ("max 2.1k/s") and a time axis ("-60s … now") when there is room."""

    _last: tuple[ratespark.Samples, list[str], float] = ((), [], 0.0)

    def compose(self) -> ComposeResult:
        """A label over the per-dataset sparklines."""
        yield Label("ingest rate", id="rate-label")
        yield Static("", id="rate-sparks", markup=False)

    def show(self, history: list[float], samples: ratespark.Samples = (),
             names: list[str] | None = None, now: float = 0.0) -> None:
        """The label shows the latest total and its peak; a line per dataset below."""
        latest = history[-1] if history else 0.0
        peak = max(history, default=0.0)
        self.query_one(Label).update(
            f"ingest rate  {human_rate(latest)}  (peak {human_rate(peak)})  ·  per dataset: "
            f"last {ratespark.WINDOW_S:g} s, own scale"
        )
        self._last = (samples, names or [], now)
        self._draw_sparks()

    def _draw_sparks(self) -> None:
        samples, names, now = self._last
        sparks = self.query_one("#rate-sparks", Static)
        size = sparks.content_size
        if names and size.width > 0:
            lines = ratespark.render(samples, names, now, size.width, size.height)
            sparks.update(Text("\n".join(lines), no_wrap=True, overflow="crop"))

    def on_resize(self) -> None:
        """Lay the lines out for the new size at once rather than on the next tick."""
        self.call_after_refresh(self._draw_sparks)


class StatusLine(Static):
    """NATS connection state, storage backend and root, errors."""

    def show(self, connection: str, detail: str, backend: str, root: str, errors: int,
             last_error: str, busy: str = "") -> None:
        """Render the status; red when disconnected or after an error.

        The last error comes first, in one line, so that 80 columns still show its cause.
        """
        ok = connection in ("connected", "reconnected")
        text = Text(no_wrap=True, overflow="ellipsis")
        if errors:
            text.append(f" ✗ {errors} error{'s' if errors != 1 else ''}: ", style="bold red")
            text.append(last_error.splitlines()[0] if last_error else "", style="red")
            text.append("  ")
        text.append(" NATS ", style="bold")
        text.append(connection + (f" ({detail})" if detail else ""),
                    style="bold green" if ok else "bold yellow")
        text.append("   storage ", style="bold")
        text.append(f"{backend} {root}")
        if busy:
            text.append(f"   {busy}", style="bold cyan")
        self.set_class(bool(errors) or connection in ("disconnected", "closed", "failed"),
                       "-error")
        self.update(text)
