"""The query panel: a reader form or DuckDB SQL, and the results grid."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import ContentSwitcher, Input, Label, Static

from lakeconsole.contract.schemas import DATASETS
from lakeconsole.errors import LakeError
from lakeconsole.tui.format import format_ns, human_count, parse_time
from lakeconsole.tui.tableview import display_table
from lakeconsole.tui.widgets.results import ResultsGrid, ResultTable
from lakeconsole.tui.widgets.sql_editor import SqlEditor, SqlTextArea

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
    as_of_snapshot: int | None = None  # Silver and Gold time travel: a snapshot id …
    as_of_ns: int | None = None  # … or the snapshot current at this time

    @property
    def as_of(self) -> bool:
        """Whether the read is a time travel (the tier's Iceberg table)."""
        return self.as_of_snapshot is not None or self.as_of_ns is not None

    def as_of_label(self, local: bool) -> str:
        """`as of snapshot 123` or `as of 2026-11-27 14:30:00.000000000`; '' when current."""
        if self.as_of_snapshot is not None:
            return f"as of snapshot {self.as_of_snapshot}"
        return f"as of {format_ns(self.as_of_ns, local)}" if self.as_of_ns is not None else ""


@dataclass(frozen=True)
class SqlRequest:
    """Run DuckDB SQL over the lake's views."""

    sql: str


class QueryPanel(Vertical):
    """Reader form or SQL editor on top, result table below."""

    def __init__(self, today: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.today = today  # the date field's first value
        self.result: pa.Table | None = None  # raw, as the service returned it: exports use it
        self.local_time = False  # the form reads, and the table shows, times in local time
        self.info = ""

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
                yield Input(self.today, placeholder="date YYYY-MM-DD", id="q-date")
                yield Input(placeholder="as of: snapshot id or time (silver, gold)", id="q-as-of")
                yield Input(placeholder="from: 14:30, date time or ns", id="q-start")
                yield Input(placeholder="to: 14:45:30.5, date time or ns", id="q-end")
            yield SqlEditor(DEFAULT_SQL, id="q-sql-box")
        yield Static("no query yet", id="query-info")
        yield ResultsGrid(id="query-grid")

    @property
    def mode(self) -> str:
        """`reader` or `sql`."""
        current = self.query_one(ContentSwitcher).current
        return "sql" if current == "q-sql-box" else "reader"

    def set_mode(self, mode: str) -> None:
        """Show the reader form or the SQL editor."""
        sql = mode == "sql"
        self.query_one(ContentSwitcher).current = "q-sql-box" if sql else "reader-form"
        label = "DuckDB SQL  (ctrl+t: reader form)" if sql else "reader form  (ctrl+t: SQL)"
        self.query_one("#query-mode", Label).update(label)

    def focus_mode(self) -> None:
        """The cursor into the SQL editor or the reader form's first field, whichever shows."""
        target = self.editor if self.mode == "sql" else self.query_one("#q-tier", Input)
        target.focus()

    def focus_sql(self) -> None:
        """Switch to SQL and put the cursor in the editor."""
        self.set_mode("sql")
        self.editor.focus()

    @property
    def editor(self) -> SqlTextArea:
        """The SQL editor's text area."""
        return self.query_one(SqlTextArea)

    def remember(self, request: ReaderRequest | SqlRequest) -> None:
        """A request ran: SQL goes into the editor's history."""
        if isinstance(request, SqlRequest):
            self.editor.remember(request.sql)

    def request(self) -> ReaderRequest | SqlRequest:
        """What to run, from the visible inputs; ValueError when incomplete."""
        if self.mode == "sql":
            sql = self.editor.text.strip()
            if not sql:
                raise ValueError("the SQL editor is empty")
            return SqlRequest(sql)
        val = {i.id: i.value.strip() for i in self.query("#reader-form Input").results(Input)}
        missing = [n for n in ("q-tier", "q-dataset", "q-partition", "q-date") if not val[n]]
        if missing:
            names = ", ".join(m.removeprefix("q-") for m in missing)
            raise ValueError(f"fill in {names}")
        date = val["q-date"]
        snapshot, as_of_ns = self._as_of(val["q-as-of"], val["q-tier"], date)
        return ReaderRequest(val["q-tier"], val["q-dataset"], val["q-partition"], date,
                             self._time("from", val["q-start"], date),
                             self._time("to", val["q-end"], date), snapshot, as_of_ns)

    def _as_of(self, text: str, tier: str, date: str) -> tuple[int | None, int | None]:
        """(snapshot id, None) for a plain number, (None, ns) for a time, or neither."""
        if not text:
            return None, None
        if tier not in ("silver", "gold"):
            raise ValueError(f"as of: time travel reads Silver and Gold, not {tier}")
        # A plain number is a snapshot id, as the history lists them: a 19-digit id and
        # a time in ns look alike, so a time is written as a date time (or 14:30).
        if text.isdigit():
            return int(text), None
        try:
            return None, parse_time(text, date, self.local_time)
        except ValueError:
            raise ValueError(f"as of: {text!r} is neither a snapshot id nor a time "
                             "(14:30, 2026-11-27 14:30:00.5)") from None

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
                          display: pa.Table | None = None, note: str = "") -> None:
        """Replace the result with `table`, shown as `display` (display_table of it)."""
        self.result = table
        more = "  (row limit reached)" if truncated else ""
        more += f"  ·  {note}" if note else ""
        self.info = (f"{human_count(table.num_rows)} rows x {table.num_columns} columns "
                     f"in {seconds * 1000:.0f} ms{more}")
        self.query_one("#query-info", Static).update(self.info)
        await self.grid.show(table, display if display is not None
                             else display_table(table, self.local_time), self.local_time,
                             keep_cursor=False)

    async def show_display(self, display: pa.Table, keep_cursor: bool = True) -> None:
        """Show a formatted result (e.g. in another time zone), keeping the focus and cursor."""
        if self.result is not None:
            await self.grid.show(self.result, display, self.local_time, keep_cursor)

    @property
    def grid(self) -> ResultsGrid:
        """The results grid."""
        return self.query_one(ResultsGrid)

    @property
    def table(self) -> ResultTable | None:
        """The result table, if there is a result."""
        return self.grid.table

    def on_results_grid_order_changed(self, event: ResultsGrid.OrderChanged) -> None:
        """The info line says how the rows are sorted and filtered."""
        text = f"{self.info}  ·  {event.summary}" if event.summary else self.info
        self.query_one("#query-info", Static).update(text)

    def show_error(self, message: str) -> None:
        """A request could not start (e.g. the form is incomplete); the result stays."""
        self.query_one("#query-info", Static).update(Text(message, style="bold red"))

    async def show_failure(self, exc: BaseException) -> None:
        """A query failed: its whole error text replaces the result."""
        text = str(exc).strip() if isinstance(exc, LakeError) else f"{type(exc).__name__}: {exc}"
        self.result = None
        self.info = "query failed"
        first = text.splitlines()[0] if text else "query failed"
        self.query_one("#query-info", Static).update(Text(first, style="bold red"))
        await self.grid.show_failure(text)
