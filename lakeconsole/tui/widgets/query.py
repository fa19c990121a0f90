"""The query panel: a reader form or DuckDB SQL, and an Arrow-backed result table."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import ContentSwitcher, Input, Label, Static, TextArea
from textual_fastdatatable import ArrowBackend, DataTable

from lakeconsole.contract.schemas import DATASETS
from lakeconsole.tui.format import human_count

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


@dataclass(frozen=True)
class SqlRequest:
    """Run DuckDB SQL over the lake's views."""

    sql: str


class QueryPanel(Vertical):
    """Reader form or SQL editor on top, result table below."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.result: pa.Table | None = None

    def compose(self) -> ComposeResult:
        """Mode label, the two input modes, the info line and the result area."""
        yield Label("reader form  (ctrl+t: SQL)", id="query-mode")
        with ContentSwitcher(initial="reader-form", id="query-switcher"):
            with Horizontal(id="reader-form", classes="form"):
                yield Input("bronze", placeholder="tier", id="q-tier",
                            suggester=SuggestFromList(["bronze", "silver", "gold"]))
                yield Input(placeholder="dataset", id="q-dataset",
                            suggester=SuggestFromList([d.name for d in DATASETS]))
                yield Input(placeholder="partition value", id="q-partition")
                yield Input(placeholder="date YYYY-MM-DD", id="q-date")
                yield Input(placeholder="start ns", id="q-start", type="integer")
                yield Input(placeholder="end ns", id="q-end", type="integer")
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
        return ReaderRequest(val["q-tier"], val["q-dataset"], val["q-partition"], val["q-date"],
                             _int(val["q-start"]), _int(val["q-end"]))

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

    async def show_result(self, table: pa.Table, seconds: float, truncated: bool) -> None:
        """Replace the result table with `table`."""
        self.result = table
        area = self.query_one("#query-results", Vertical)
        await area.remove_children()
        await area.mount(DataTable(backend=ArrowBackend(table), id="query-table",
                                   max_column_content_width=40))
        more = "  (row limit reached)" if truncated else ""
        self.query_one("#query-info", Static).update(
            f"{human_count(table.num_rows)} rows x {table.num_columns} columns "
            f"in {seconds * 1000:.0f} ms{more}")

    def show_error(self, message: str) -> None:
        """A query failed."""
        self.query_one("#query-info", Static).update(Text(message, style="bold red"))


def _int(text: str) -> int | None:
    return int(text) if text else None
