"""The detail pane of a lake file: schema, row groups with times, compression, metadata."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from lakeconsole.query.inspect import FileDetail
from lakeconsole.tui.format import format_ns, human_bytes, human_count


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold")


def _grid(*headers: str, right: tuple[int, ...] = ()) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False,
                  header_style="dim")
    for i, name in enumerate(headers):
        table.add_column(name, justify="right" if i in right else "left", no_wrap=i > 0)
    return table


def summary_lines(detail: FileDetail, local: bool) -> Text:
    """Name, place, size, rows, compression, stream-sequence and time range."""
    folder, _, name = detail.path.rpartition("/")
    text = Text(name, style="bold")
    text.append(f"\n{folder}", style="dim")
    text.append(f"\n{human_bytes(detail.size)} · {human_count(detail.rows)} rows · "
                f"{len(detail.row_groups)} row group{'s' if len(detail.row_groups) != 1 else ''}"
                f" · {detail.compression or '-'}")
    seqs = detail.stream_seqs
    if seqs is not None:
        text.append(f"\nstream seq {seqs[0]:,} .. {seqs[1]:,}")
    low, high = detail.time_range
    if detail.time_column is not None:
        text.append(f"\n{detail.time_column}\n  {format_ns(low, local)}\n"
                    f"  {format_ns(high, local)}")
    text.append(f"\nParquet {detail.format_version} · {detail.created_by}", style="dim")
    return text


def row_group_table(detail: FileDetail, local: bool) -> Table:
    """One row group per line pair: index, rows, compressed bytes, min and max time."""
    table = _grid("#", "rows", "bytes", f"{detail.time_column or 'time'} min / max",
                  right=(0, 1, 2))
    for g in detail.row_groups:
        table.add_row(str(g.index), human_count(g.rows), human_bytes(g.compressed_bytes),
                      f"{format_ns(g.min_ns, local)}\n{format_ns(g.max_ns, local)}")
    return table


def schema_table(detail: FileDetail) -> Table:
    """One line per column: type, Parquet type, codec, encodings, compressed size."""
    table = _grid("column", "type", "physical", "codec", "bytes", "encodings", right=(4,))
    for c in detail.columns:
        table.add_row(c.name, c.type, c.physical, c.compression,
                      human_bytes(c.compressed_bytes), c.encodings)
    return table


def metadata_table(detail: FileDetail) -> Table:
    """The key/value metadata (the Arrow schema blob left out)."""
    table = _grid("key", "value")
    for key, value in detail.metadata:
        table.add_row(key, value if len(value) <= 80 else value[:79] + "…")
    return table


def detail_renderable(detail: FileDetail, local: bool) -> RenderableType:
    """The whole pane: summary, row groups, schema, key/value metadata."""
    return Group(summary_lines(detail, local),
                 _section("Row groups"), row_group_table(detail, local),
                 _section("Schema"), schema_table(detail),
                 _section("Key/value metadata"), metadata_table(detail))


class FileDetailPane(VerticalScroll):
    """Shows one FileDetail; hidden until a file is selected in the tree."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.detail: FileDetail | None = None
        self.path = ""
        self.local_time = False
        self.can_focus = True  # scrollable with the keyboard (tab into it)

    def compose(self) -> ComposeResult:
        """One Static holding the rendered detail."""
        yield Static("", id="file-detail-body")

    @property
    def is_open(self) -> bool:
        """Whether the pane is shown."""
        return self.has_class("-open")

    def open(self, path: str) -> None:
        """Show the pane for `path`, saying it loads."""
        self.add_class("-open")
        self.path = path
        self.border_title = path.rsplit("/", 1)[-1]
        self.detail = None
        self._body(Text(f"reading the footer of {path} …", style="dim"))

    def close(self) -> None:
        """Hide the pane."""
        self.remove_class("-open")
        self.path = ""
        self.detail = None

    def show(self, detail: FileDetail) -> None:
        """The file's detail (ignored when another file was chosen meanwhile)."""
        if detail.path != self.path:
            return
        self.detail = detail
        self._body(detail_renderable(detail, self.local_time))

    def show_error(self, path: str, message: str) -> None:
        """The footer could not be read."""
        if path == self.path:
            self._body(Text(f"cannot describe {path}: {message}", style="bold red"))

    def set_local_time(self, local: bool) -> None:
        """Times in local time or UTC; redraws an open detail."""
        self.local_time = local
        if self.detail is not None:
            self._body(detail_renderable(self.detail, local))

    def _body(self, renderable: RenderableType) -> None:
        self.query_one("#file-detail-body", Static).update(renderable)
