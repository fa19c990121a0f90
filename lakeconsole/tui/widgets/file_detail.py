"""The detail pane of a lake file: schema, row groups with times, compression, metadata;
or of a Silver or Gold dataset's Iceberg table: its snapshot history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from lakeconsole.query.inspect import FileDetail
from lakeconsole.tui.format import format_ns, human_bytes, human_count, zone_label

if TYPE_CHECKING:  # a plain dataclass, but its module imports pyiceberg
    from lakeconsole.iceberg.history import SnapshotEntry

NS_PER_MS = 1_000_000


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


def history_renderable(entries: list[SnapshotEntry], local: bool) -> RenderableType:
    """A table's live snapshots, newest first, two lines each; `*` marks the current one."""
    if not entries:
        return Text("no snapshot yet: compact the dataset (or run `lakeconsole iceberg sync`)",
                    style="dim")
    head = Text(entries[0].table, style="bold")
    head.append(f"\n{len(entries)} live snapshot{'s' if len(entries) != 1 else ''}, newest "
                f"first; times in {zone_label(local)}", style="dim")
    # A grid, not indented text: the pane's wrapping would drop the leading spaces.
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1)
    grid.add_column()
    for e in entries:
        # Milliseconds: Iceberg's commit-time unit (format_ns would pad nine digits).
        at = format_ns(e.committed_ms * NS_PER_MS, local)[:23]
        grid.add_row("*" if e.current else "", Text(f"{e.snapshot_id}  {at}  {e.operation}",
                                                    style="bold" if e.current else ""))
        grid.add_row("", Text(f"files +{e.added_files} -{e.deleted_files} · rows "
                              f"+{human_count(e.added_rows)} -{human_count(e.deleted_rows)} · "
                              f"total {human_count(e.total_rows)} rows", style="dim"))
    hint = Text("\n* current. The Query form's `as of` takes an id or a time.", style="dim")
    return Group(head, grid, hint)


class FileDetailPane(VerticalScroll):
    """Shows one FileDetail or snapshot history; hidden until a tree selection opens it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.detail: FileDetail | None = None
        self.history: list[SnapshotEntry] | None = None
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
        self.detail = self.history = None
        self._body(Text(f"reading the footer of {path} …", style="dim"))

    def open_history(self, path: str, dataset: str) -> None:
        """Show the pane for the snapshot history of the dataset at `path`, saying it loads."""
        self.add_class("-open")
        self.path = path
        self.border_title = f"{dataset} snapshots"
        self.detail = self.history = None
        self._body(Text(f"reading the snapshot history of {dataset} …", style="dim"))

    def close(self) -> None:
        """Hide the pane."""
        self.remove_class("-open")
        self.path = ""
        self.detail = self.history = None

    def show(self, detail: FileDetail) -> None:
        """The file's detail (ignored when another file was chosen meanwhile)."""
        if detail.path != self.path:
            return
        self.detail = detail
        self._body(detail_renderable(detail, self.local_time))

    def show_history(self, path: str, entries: list[SnapshotEntry]) -> None:
        """The table's snapshots (ignored when another node was chosen meanwhile)."""
        if path != self.path:
            return
        self.history = entries
        self._body(history_renderable(entries, self.local_time))

    def show_error(self, path: str, message: str, verb: str = "describe") -> None:
        """The footer (or the history) could not be read."""
        if path == self.path:
            self._body(Text(f"cannot {verb} {path}: {message}", style="bold red"))

    def set_local_time(self, local: bool) -> None:
        """Times in local time or UTC; redraws an open detail or history."""
        self.local_time = local
        if self.detail is not None:
            self._body(detail_renderable(self.detail, local))
        elif self.history is not None:
            self._body(history_renderable(self.history, local))

    def _body(self, renderable: RenderableType) -> None:
        self.query_one("#file-detail-body", Static).update(renderable)
