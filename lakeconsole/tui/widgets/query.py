"""The query panel: a reader form or DuckDB SQL, and an Arrow-backed result table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.coordinate import Coordinate
from textual.css.query import NoMatches
from textual.suggester import SuggestFromList
from textual.widgets import ContentSwitcher, Input, Label, Static, TextArea
from textual_fastdatatable import ArrowBackend, DataTable

from lakeconsole.contract.schemas import DATASETS
from lakeconsole.tui.format import human_count, parse_time
from lakeconsole.tui.tableview import display_table

DEFAULT_SQL = (
    "SELECT symbol, count(*) AS trades, min(price) AS low, max(price) AS high\n"
    "FROM bronze_stocks_trades\nGROUP BY symbol\nORDER BY trades DESC"
)


@dataclass(frozen=True)
class ReaderRequest:
    """Read one partition and date of a tier."""

    tier: str
    dataset: str
    partition: str
    date: str
    start_ns: int | None = None
    end_ns: int | None = None


class ResultTable(DataTable):
    """The fast Arrow table, but tab and shift+tab move the focus, as everywhere else.

    (The table's own tab moves the cell cursor: it kept the keyboard from reaching the form.)
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "app.focus_next", "Next field", show=False),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False),
    ]


@dataclass(frozen=True)
class SqlRequest:
    """Run DuckDB SQL over the lake's views."""

    sql: str


class QueryPanel(Vertical):
    """Reader form or SQL editor on top, result table below."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.result: pa.Table | None = None  # raw, as the service returned it: exports use it
        self.local_time = False  # the form reads, and the table shows, times in local time

    def compose(self) -> ComposeResult:
        """Mode label, the two input modes, the info line and the result area."""
        yield Label("reader form  (ctrl+t: SQL)", id="query-mode")
        with ContentSwitcher(initial="reader-form", id="query-switcher"):
            with Grid(id="reader-form", classes="form"):
                yield Input("bronze", placeholder="tier", id="q-tier",
                            suggester=SuggestFromList(["bronze", "silver", "gold"]))
                yield Input(placeholder="dataset", id="q-dataset",
                            suggester=SuggestFromList([d.name for d in DATASETS]))
                yield Input(placeholder="partition value", id="q-partition")
                yield Input(placeholder="date YYYY-MM-DD", id="q-date")
                yield Input(placeholder="from: 14:30, date time or ns", id="q-start")
                yield Input(placeholder="to: 14:45:30.5, date time or ns", id="q-end")
            yield TextArea(DEFAULT_SQL, id="q-sql", show_line_numbers=True)
        yield Static("no query yet", id="query-info")
        yield Vertical(id="query-results")

    @property
    def mode(self) -> str:
        """`reader` or `sql`."""
        current = self.query_one(ContentSwitcher).current
        return "sql" if current == "q-sql" else "reader"

    def set_mode(self, mode: str) -> None:
        """Show the reader form or the SQL editor."""
        sql = mode == "sql"
        self.query_one(ContentSwitcher).current = "q-sql" if sql else "reader-form"
        label = "DuckDB SQL  (ctrl+t: reader form)" if sql else "reader form  (ctrl+t: SQL)"
        self.query_one("#query-mode", Label).update(label)

    def focus_sql(self) -> None:
        """Switch to SQL and put the cursor in the editor."""
        self.set_mode("sql")
        self.query_one(TextArea).focus()

    def request(self) -> ReaderRequest | SqlRequest:
        """What to run, from the visible inputs; ValueError when incomplete."""
        if self.mode == "sql":
            sql = self.query_one(TextArea).text.strip()
            if not sql:
                raise ValueError("the SQL editor is empty")
            return SqlRequest(sql)
        val = {i.id: i.value.strip() for i in self.query("#reader-form Input").results(Input)}
        missing = [n for n in ("q-tier", "q-dataset", "q-partition", "q-date") if not val[n]]
        if missing:
            names = ", ".join(m.removeprefix("q-") for m in missing)
            raise ValueError(f"fill in {names}")
        date = val["q-date"]
        return ReaderRequest(val["q-tier"], val["q-dataset"], val["q-partition"], date,
                             self._time("from", val["q-start"], date),
                             self._time("to", val["q-end"], date))

    def _time(self, name: str, text: str, date: str) -> int | None:
        try:
            return parse_time(text, date, self.local_time)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc

    def fill(self, tier: str | None, dataset: str | None, value: str | None,
             date: str | None) -> None:
        """Set the reader form from a tree selection."""
        for widget_id, text in (("q-tier", tier), ("q-dataset", dataset),
                                ("q-partition", value), ("q-date", date)):
            if text and not (widget_id == "q-tier" and text == "quarantine"):
                self.query_one(f"#{widget_id}", Input).value = text

    def running(self, what: str) -> None:
        """A query started."""
        self.query_one("#query-info", Static).update(f"running {what} …")

    async def show_result(self, table: pa.Table, seconds: float, truncated: bool,
                          display: pa.Table | None = None) -> None:
        """Replace the result with `table`, shown as `display` (display_table of it)."""
        self.result = table
        await self.show_display(display if display is not None
                                else display_table(table, self.local_time), keep_cursor=False)
        more = "  (row limit reached)" if truncated else ""
        self.query_one("#query-info", Static).update(
            f"{human_count(table.num_rows)} rows x {table.num_columns} columns "
            f"in {seconds * 1000:.0f} ms{more}")

    async def show_display(self, display: pa.Table, keep_cursor: bool = True) -> None:
        """Show a formatted result (e.g. in another time zone), keeping the focus and cursor."""
        area = self.query_one("#query-results", Vertical)
        old = self.table
        cursor = old.cursor_coordinate if old is not None else Coordinate(0, 0)
        focused = old is not None and old.has_focus
        await area.remove_children()
        # render_markup=False: a value such as "[b]" is data, never markup.
        table = ResultTable(backend=ArrowBackend(display), id="query-table",
                            cursor_type="range", max_column_content_width=40,
                            render_markup=False)
        await area.mount(table)
        if keep_cursor:
            table.move_cursor(row=cursor.row, column=cursor.column, animate=False)
        if focused:
            table.focus()

    @property
    def table(self) -> DataTable | None:
        """The result table, if there is a result."""
        try:
            return self.query_one("#query-table", DataTable)
        except NoMatches:
            return None

    def on_data_table_selection_copied(self, event: DataTable.SelectionCopied) -> None:
        """ctrl+c in the table: the cell, row or range to the clipboard as tab-separated text."""
        event.stop()
        self.app.copy_to_clipboard(selection_text(event.values))
        cells = sum(len(row) for row in event.values)
        self.notify(f"copied {cells} cell{'s' if cells != 1 else ''}", timeout=2)

    def show_error(self, message: str) -> None:
        """A query failed."""
        self.query_one("#query-info", Static).update(Text(message, style="bold red"))


def selection_text(values: list[tuple[Any, ...]]) -> str:
    """Rows of cells as tab-separated lines; the alignment padding is dropped."""
    return "\n".join("\t".join("" if v is None else str(v).strip() for v in row)
                     for row in values)
