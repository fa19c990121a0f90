"""The results grid: a fast Arrow table with sort, filter, copy, a frozen time column and
the full-cell view. Sorting and filtering run on the Arrow result in a thread."""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Input, Static
from textual_fastdatatable import ArrowBackend, DataTable

from lakeconsole.tui import keys
from lakeconsole.tui.tableview import (
    Arranged,
    GridOrder,
    arrange,
    cell_detail,
    frozen_columns,
    row_text,
)
from lakeconsole.tui.widgets.cell_view import CellScreen

MAX_CELL = 50  # characters of a cell in the grid; enter shows the whole value


class ResultTable(DataTable):
    """The fast Arrow table; tab and shift+tab move the focus, as everywhere else.

    (The table's own tab moves the cell cursor: it kept the keyboard from reaching the form.)
    """

    DEFAULT_CSS = """
    ResultTable { height: 1fr; }
    ResultTable > .datatable--fixed { background: $boost; color: $text; text-style: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Next field", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        *keys.widget_bindings(keys.RESULTS),
    ]

    @property
    def grid(self) -> ResultsGrid:
        """The grid this table shows."""
        return self.query_ancestor(ResultsGrid)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """escape clears a filter; without one it goes on to the console's `back`."""
        if action == "clear_filter":
            return bool(self.grid.order.text)
        return True

    def action_sort_column(self) -> None:
        """Sort by the cursor's column: ascending, descending, off."""
        self.grid.sort(self.cursor_column)

    def action_filter_rows(self) -> None:
        """Open the filter line."""
        self.grid.open_filter()

    def action_show_cell(self) -> None:
        """The full-cell view of the cursor's cell."""
        self.grid.show_cell(self.cursor_row, self.cursor_column)

    def action_copy_row(self) -> None:
        """The cursor's row to the clipboard."""
        self.grid.copy_row(self.cursor_row)

    def action_clear_filter(self) -> None:
        """Show every row again."""
        self.grid.set_filter("", close=True)


class FilterInput(Input):
    """The filter line: rows stay when a cell contains the text; escape clears it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", show=False),
    ]

    def action_clear(self) -> None:
        """Clear the filter and go back to the table."""
        self.query_ancestor(ResultsGrid).set_filter("", close=True)


class ResultsGrid(Vertical):
    """The result table, its filter line, or the error of the last query."""

    DEFAULT_CSS = """
    ResultsGrid { height: 1fr; }
    ResultsGrid #query-filter { display: none; height: 3; margin: 0 1; }
    ResultsGrid #query-filter.-open { display: block; }
    ResultsGrid #query-error { height: 1fr; margin: 0 1; }
    """

    class OrderChanged(Message):
        """The shown rows changed: `summary` says how (sort and filter), '' when plain."""

        def __init__(self, summary: str) -> None:
            super().__init__()
            self.summary = summary

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.raw: pa.Table | None = None
        self.display_table: pa.Table | None = None
        self.arranged: Arranged | None = None
        self.order = GridOrder()
        self.local = False

    def compose(self) -> ComposeResult:
        """The (hidden) filter line above the table area."""
        yield FilterInput(placeholder="filter rows: text in any cell   enter: keep   esc: clear",
                          id="query-filter")
        yield Vertical(id="query-results")

    @property
    def table(self) -> ResultTable | None:
        """The result table, if there is a result."""
        try:
            return self.query_one("#query-table", ResultTable)
        except NoMatches:
            return None

    async def show(self, raw: pa.Table, display: pa.Table, local: bool,
                   keep_cursor: bool) -> None:
        """Show a result; a new one (keep_cursor False) starts unsorted and unfiltered."""
        if not keep_cursor:
            self.order = GridOrder()
            self.query_one(FilterInput).remove_class("-open")
            self.query_one(FilterInput).value = ""
        self.raw, self.display_table, self.local = raw, display, local
        if self.order == GridOrder():  # nothing to compute: at once, on the UI thread
            await self._mount(arrange(raw, display, self.order), keep_cursor)
        else:
            self._arrange(raw, display, self.order, keep_cursor)

    async def show_failure(self, text: str) -> None:
        """The full error text where the result was; the old result is gone."""
        self.raw = self.display_table = self.arranged = None
        self.order = GridOrder()
        self.query_one(FilterInput).remove_class("-open")
        area = self.query_one("#query-results", Vertical)
        await area.remove_children()
        await area.mount(VerticalScroll(Static(Text(text, style="bold red"), id="query-error-text"),
                                        id="query-error"))

    def apply(self, order: GridOrder) -> None:
        """Sort and filter again, in a thread (100,000 rows take a moment)."""
        self.order = order
        if self.raw is not None and self.display_table is not None:
            self._arrange(self.raw, self.display_table, order, True)

    @work(thread=True, group="arrange", exclusive=True, exit_on_error=False)
    def _arrange(self, raw: pa.Table, display: pa.Table, order: GridOrder,
                 keep_cursor: bool) -> None:
        try:
            arranged = arrange(raw, display, order)
        except (pa.ArrowException, ValueError) as exc:  # e.g. a type Arrow cannot order
            self.app.call_from_thread(self.notify, f"cannot sort or filter: {exc}",
                                      severity="warning", timeout=5)
            return
        self.app.call_from_thread(self._arranged, raw, display, arranged,  # type: ignore[arg-type]
                                  keep_cursor)

    async def _arranged(self, raw: pa.Table, display: pa.Table, arranged: Arranged,
                        keep_cursor: bool) -> None:
        if raw is self.raw and display is self.display_table and arranged.order == self.order:
            await self._mount(arranged, keep_cursor)

    async def _mount(self, arranged: Arranged, keep_cursor: bool) -> None:
        assert self.raw is not None
        area = self.query_one("#query-results", Vertical)
        old = self.table
        cursor = old.cursor_coordinate if old is not None and keep_cursor else None
        focused = old is not None and old.has_focus
        if focused:  # else removing it sends the focus on to the next widget (the editor)
            self.app.set_focus(None)
        await area.remove_children()
        self.arranged = arranged
        # render_markup=False: a value such as "[b]" is data, never markup.
        table = ResultTable(backend=ArrowBackend(arranged.display), id="query-table",
                            cursor_type="range", max_column_content_width=MAX_CELL,
                            render_markup=False, fixed_columns=frozen_columns(self.raw))
        await area.mount(table)
        if cursor is not None:
            table.move_cursor(row=cursor.row, column=cursor.column, animate=False)
        if focused:
            table.focus()
        self.post_message(self.OrderChanged(self.summary()))

    def summary(self) -> str:
        """`sorted by price ▼, filter "SPY": 12 of 300 rows`; '' for the result as it came."""
        parts = []
        order, raw = self.order, self.raw
        if raw is None or self.arranged is None:
            return ""
        if order.sort_column is not None:
            mark = "▼" if order.descending else "▲"
            parts.append(f"sorted by {raw.column_names[order.sort_column]} {mark}")
        if order.text:
            parts.append(f"filter {order.text!r}: {self.arranged.display.num_rows:,} "
                         f"of {raw.num_rows:,} rows")
        return ", ".join(parts)

    # -- keys --------------------------------------------------------------------------

    def sort(self, column: int) -> None:
        """`s`: the next sort state of `column`."""
        if self.raw is not None and 0 <= column < self.raw.num_columns:
            self.apply(self.order.next_sort(column))

    def open_filter(self) -> None:
        """`/`: the filter line, with the current text."""
        line = self.query_one(FilterInput)
        line.add_class("-open")
        line.value = self.order.text
        line.focus()

    def set_filter(self, text: str, close: bool = False) -> None:
        """Keep the rows with a cell containing `text` ('' shows all)."""
        if close:
            line = self.query_one(FilterInput)
            with line.prevent(Input.Changed):
                line.value = ""
            line.remove_class("-open")
            if self.table is not None:
                self.table.focus()
        if text != self.order.text:
            self.apply(GridOrder(self.order.sort_column, self.order.descending, text))

    def on_input_changed(self, event: Input.Changed) -> None:
        """Filter as the text is typed."""
        event.stop()
        self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """enter: keep the filter, back to the table."""
        event.stop()
        if not event.value:
            self.query_one(FilterInput).remove_class("-open")
        if self.table is not None:
            self.table.focus()

    def show_cell(self, row: int, column: int) -> None:
        """`enter`: the whole value of a cell in a modal view."""
        if self.raw is None or self.arranged is None or self.arranged.display.num_rows == 0:
            return
        raw_row = self.arranged.raw_row(row)
        name = self.raw.column_names[column]
        title = f"{name}  ·  row {row + 1:,} of {self.arranged.display.num_rows:,}"
        self.app.push_screen(CellScreen(title, cell_detail(self.raw, raw_row, column,
                                                           self.local)))

    def copy_row(self, row: int) -> None:
        """`y`: one row to the clipboard, tab-separated."""
        if self.arranged is None or self.arranged.display.num_rows == 0:
            return
        self.app.copy_to_clipboard(row_text(self.arranged.display, row))
        self.notify(f"copied row {row + 1:,}", timeout=2)

    def on_data_table_selection_copied(self, event: DataTable.SelectionCopied) -> None:
        """ctrl+c in the table: the cell, row or range to the clipboard as tab-separated text."""
        event.stop()
        self.app.copy_to_clipboard(selection_text(event.values))
        cells = sum(len(row) for row in event.values)
        self.notify(f"copied {cells} cell{'s' if cells != 1 else ''}", timeout=2)


def selection_text(values: list[tuple[Any, ...]]) -> str:
    """Rows of cells as tab-separated lines; the alignment padding is dropped."""
    return "\n".join("\t".join("" if v is None else str(v).strip() for v in row)
                     for row in values)
