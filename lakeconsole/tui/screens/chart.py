"""The chart screen over the Query tab: the current result plotted over event time."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from lakeconsole.tui.chartdata import ChartData
from lakeconsole.tui.format import human_count
from lakeconsole.tui.widgets.chart import ResultChart


def caption(data: ChartData, zone: str) -> str:
    """`price and size over ts_event_ns · 1,000 rows, 312 drawn · UTC · esc closes`."""
    return (f"{data.title} · {human_count(data.rows)} rows, {human_count(data.points)} drawn"
            f" · {zone} · esc closes")


class ChartScreen(ModalScreen[None]):
    """A full-screen chart; escape, c or q closes it."""

    BINDINGS = [Binding("escape,c,q", "close", "Close", id="chart_close")]

    def __init__(self, data: ChartData, zone: str) -> None:
        super().__init__()
        self.data = data
        self.zone = zone

    def action_close(self) -> None:
        """Close the chart (the Query tab is below it)."""
        self.dismiss()

    def compose(self) -> ComposeResult:
        """A caption over the plot."""
        with Vertical(id="chart-body"):
            yield Label(caption(self.data, self.zone), id="chart-caption", markup=False)
            yield ResultChart(self.data, id="chart")
