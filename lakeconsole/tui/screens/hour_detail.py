"""The figures of one heat-map cell: rows per tier, duplicates, gap ranges, losses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lakeconsole import events as ev
from lakeconsole.tui.format import format_ns
from lakeconsole.tui.widgets.streams import loss_line

RANGES_SHOWN = 50


class HourFigures(Protocol):
    """One hour's coverage (ledger.coverage.HourCoverage)."""

    @property
    def dataset(self) -> str: ...
    @property
    def partition(self) -> str: ...
    @property
    def date(self) -> str: ...
    @property
    def hour(self) -> int: ...
    @property
    def bronze_rows(self) -> int: ...
    @property
    def silver_rows(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def feed_gaps(self) -> int: ...
    @property
    def gap_ranges(self) -> tuple[tuple[int, int], ...]: ...
    @property
    def lost(self) -> int: ...
    @property
    def first_ts_ns(self) -> int | None: ...
    @property
    def last_ts_ns(self) -> int | None: ...
    @property
    def late_rows(self) -> int: ...
    @property
    def status(self) -> str: ...


def gap_text(ranges: tuple[tuple[int, int], ...]) -> str:
    """`101-150, 200` … up to RANGES_SHOWN ranges, then how many more."""
    shown = [f"{a:,}" if a == b else f"{a:,}-{b:,}" for a, b in ranges[:RANGES_SHOWN]]
    more = len(ranges) - RANGES_SHOWN
    return ", ".join(shown) + (f" … and {more:,} more" if more > 0 else "") or "none"


def figures(cell: HourFigures, losses: Sequence[ev.UpstreamLoss], local: bool) -> RenderableType:
    """A two-column table of the hour's figures, then the stream's recent losses."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    rows = [
        ("status", cell.status), ("bronze rows", f"{cell.bronze_rows:,}"),
        ("silver rows", f"{cell.silver_rows:,}"), ("duplicates", f"{cell.duplicates:,}"),
        ("feed gaps", f"{cell.feed_gaps:,}"), ("gap ranges (seq)", gap_text(cell.gap_ranges)),
        ("lost upstream", f"{cell.lost:,}"), ("late rows", f"{cell.late_rows:,}"),
        ("first event", format_ns(cell.first_ts_ns, local)),
        ("last event", format_ns(cell.last_ts_ns, local)),
    ]
    for what, value in rows:
        table.add_row(what, value)
    title = Text(f"{cell.dataset} / {cell.partition}   {cell.date} hour {cell.hour:02d} UTC",
                 style="bold")
    parts: list[RenderableType] = [title, Text(""), table]
    if losses:
        parts += [Text(""), Text("upstream losses (this session)", style="bold")]
        parts += [Text(loss_line(loss, local), style="red") for loss in losses[-10:]]
    return Group(*parts)


class HourDetailScreen(ModalScreen[None]):
    """A modal with one cell's figures and gap ranges; escape, enter or q closes it."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="detail_close")]

    def __init__(self, cell: HourFigures, losses: Sequence[ev.UpstreamLoss],
                 local: bool = False) -> None:
        super().__init__()
        self.cell = cell
        self.losses = list(losses)
        self.local = local

    def compose(self) -> ComposeResult:
        """The figures, scrollable."""
        with VerticalScroll(id="detail-body"):
            yield Static(figures(self.cell, self.losses, self.local), id="detail-figures")
            yield Static("esc closes", id="detail-hint", markup=False)

    async def action_dismiss(self, result: None = None) -> None:
        """Close the detail."""
        self.dismiss(None)
