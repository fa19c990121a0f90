"""The Health tab: a date, the coverage heat map with its legend, and the stream panel."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, Static

from lakeconsole import events as ev
from lakeconsole.contract.schemas import by_name
from lakeconsole.errors import SchemaError, describe
from lakeconsole.tui.format import utc_day
from lakeconsole.tui.health_model import STREAM_OF_TIER, HealthSnapshot
from lakeconsole.tui.screens.hour_detail import HourDetailScreen, HourFigures
from lakeconsole.tui.widgets.heatmap import STATUS_LOOK, HeatMap, legend, row_name
from lakeconsole.tui.widgets.streams import streams_view

Loader = Callable[[str], Sequence[Any]]  # Service.coverage(date) → [HourCoverage]
AUTO_RELOAD_S = 15.0  # while the tab is shown: new flushes and compactions appear by themselves
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def shift_day(day: str, days: int) -> str:
    """`day` moved by `days` days."""
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def stream_of_dataset(dataset: str) -> str:
    """The JetStream stream a dataset is ingested from."""
    try:
        return STREAM_OF_TIER.get(by_name(dataset).tier, "")
    except SchemaError:
        return ""


class HealthPanel(Vertical):
    """Loads coverage for a date through `loader` in a thread worker; renders model state."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh"),
        Binding("left_square_bracket", "day(-1)", "Prev day", key_display="["),
        Binding("right_square_bracket", "day(1)", "Next day", key_display="]"),
    ]

    def __init__(self, loader: Loader | None, today: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loader = loader
        self.day = utc_day(today())
        self.cells: dict[tuple[str, int], Any] = {}
        self.loaded_day: str | None = None
        self.fetching = False  # not `loading`: Widget.loading would hide the tab behind a spinner
        self.loaded_at: float | None = None
        self.local_time = False
        self._snapshot: HealthSnapshot | None = None
        self._shown_version = -1

    def compose(self) -> ComposeResult:
        """Date bar, legend, heat map, stream panel."""
        with Horizontal(id="health-bar"):
            yield Label("date ", id="health-date-label")
            yield Input(self.day, placeholder="YYYY-MM-DD", id="health-date", compact=True,
                        max_length=10)
            yield Label("", id="health-info", markup=False)
        yield Static("", id="health-legend")
        yield HeatMap(id="heatmap")
        with VerticalScroll(id="health-streams-box"):
            yield Static("", id="health-streams")

    def on_mount(self) -> None:
        """Draw the legend now and again on a theme change."""
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.recolour())
        self.recolour()

    def on_show(self) -> None:
        """The first time the tab shows, load today's coverage."""
        if self.loaded_day is None and not self.fetching:
            self.load()

    def on_resize(self) -> None:
        """Cells narrow below 120 columns: rebuild the map."""
        if self.loaded_day is not None:
            self._fill()

    @property
    def heatmap(self) -> HeatMap:
        """The grid."""
        return self.query_one(HeatMap)

    def colours(self) -> dict[str, str]:
        """The theme's colour variables (success, warning, error, panel, …)."""
        return self.app.get_css_variables()

    def recolour(self) -> None:
        """Legend, map and stream panel in the current theme's colours."""
        self.query_one("#health-legend", Static).update(legend(self.colours()))
        self._fill()
        self._shown_version = -1
        if self._snapshot is not None:
            self.show_state(self._snapshot)

    # -- actions -------------------------------------------------------------------------

    def action_reload(self) -> None:
        """Load the date's coverage again."""
        self.load()

    def action_day(self, days: int) -> None:
        """The previous or next day."""
        self.set_day(shift_day(self.day, days))

    def set_day(self, day: str) -> None:
        """Show another date."""
        self.day = day
        self.query_one("#health-date", Input).value = day
        self.load()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """A typed date loads; the focus goes back to the map."""
        event.stop()
        text = event.value.strip()
        try:
            if not _DATE.fullmatch(text):
                raise ValueError(text)
            date.fromisoformat(text)
        except ValueError:
            self.notify(f"not a date: {text!r} (YYYY-MM-DD)", severity="warning")
            return
        self.set_day(text)
        self.heatmap.focus()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        """Enter on a cell: its figures, gap ranges and the stream's losses."""
        event.stop()
        at = self.heatmap.cell_at_cursor()
        cell = self.cells.get(at) if at is not None else None
        if cell is None:
            self.notify("no data for that hour", timeout=3)
            return
        self.app.push_screen(HourDetailScreen(cell, self.losses_for(cell), self.local_time))

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        """The map's title names the cell under the cursor."""
        event.stop()
        self._title_cursor()

    def _title_cursor(self) -> None:
        at = self.heatmap.cell_at_cursor()
        if at is None:
            self.heatmap.border_title = f"{self.day} UTC"
            return
        cell = self.cells.get(at)
        status = cell.status if cell is not None else "empty"
        self.heatmap.border_title = f"{at[0]}  {self.day} {at[1]:02d}:00 UTC  {status}"

    def losses_for(self, cell: HourFigures) -> list[ev.UpstreamLoss]:
        """Upstream losses seen on the cell's stream this session."""
        stream = stream_of_dataset(cell.dataset)
        snap = self._snapshot
        return [x for x in snap.losses if x.stream == stream] if snap is not None else []

    # -- loading -------------------------------------------------------------------------

    def maybe_reload(self, now: float) -> None:
        """Reload once AUTO_RELOAD_S have passed since the last load (the app's tick)."""
        if self.fetching or self.loaded_at is None:
            self.loaded_at = now if self.loaded_at is None else self.loaded_at
            return
        if now - self.loaded_at >= AUTO_RELOAD_S:
            self.loaded_at = now
            self.load()

    def load(self) -> None:
        """Fetch the coverage of `self.day` in a thread."""
        if self.loader is None:
            self._info(f"{self.day}: no service")
            return
        self.fetching = True
        self._info(f"loading {self.day} …")
        self._fetch(self.day)

    @work(thread=True, group="coverage", exclusive=True, exit_on_error=False)
    def _fetch(self, day: str) -> None:
        assert self.loader is not None
        try:
            cells = list(self.loader(day))
        except Exception as exc:  # any storage or ledger failure: a line, not a crash
            self.app.call_from_thread(self._failed, day, describe(exc))
            return
        self.app.call_from_thread(self.show_coverage, day, cells)

    def _failed(self, day: str, message: str) -> None:
        self.fetching = False
        self._info(f"{day}: {message}")
        self.notify(f"coverage of {day}: {message}", severity="error")

    def show_coverage(self, day: str, cells: Sequence[Any]) -> None:
        """Show coverage cells (HourCoverage) of a day."""
        if day != self.day:
            return  # the date changed while it loaded; that load is on its way
        self.fetching = False
        self.loaded_day = day
        self.cells = {(row_name(c), c.hour): c for c in cells}
        rows = len({row_name(c) for c in cells})
        seen = {c.status for c in cells}
        worst = next((s for s in STATUS_LOOK if s in seen), "")
        self._info(f"{rows} partitions · worst: {worst}" if cells else "no data")
        self._fill()
        self._title_cursor()

    def _fill(self) -> None:
        if self.loaded_day is not None:
            self.heatmap.fill(list(self.cells.values()), self.colours(), self.app.size.width)

    def _info(self, text: str) -> None:
        self.query_one("#health-info", Label).update(text)

    # -- live state ------------------------------------------------------------------------

    def show_state(self, snap: HealthSnapshot) -> None:
        """Redraw the stream panel when the state changed."""
        self._snapshot = snap
        if snap.version == self._shown_version:
            return
        self._shown_version = snap.version
        self.query_one("#health-streams", Static).update(
            streams_view(snap, self.colours(), self.local_time))
