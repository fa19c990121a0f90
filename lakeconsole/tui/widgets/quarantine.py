"""The Quarantine tab: counts per subject and reason, entries, the raw payload, replay."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, TextArea

from lakeconsole.lake.replays import ReplayResult
from lakeconsole.query.quarantine import QuarantineEntry, QuarantineView, pretty_payload
from lakeconsole.tui import keys
from lakeconsole.tui.failures import one_line
from lakeconsole.tui.format import format_ns, human_count
from lakeconsole.tui.screens.confirm import ConfirmScreen

Reader = Callable[[], QuarantineView]
Replayer = Callable[[list[str]], Awaitable[ReplayResult]]
MARK = "●"
STATE_STYLE = {"replayed": "green", "interrupted": "yellow"}
KIND_LABEL = {"json": "JSON", "text": "text (not JSON)", "hex": "hex (not UTF-8)"}


def entry_row(entry: QuarantineEntry, marked: bool, local: bool) -> list[Text | str]:
    """The cells of one entry: mark, replay state, received time, subject, seq, reason."""
    state = entry.replay_state
    return [
        Text(MARK if marked else " ", style="bold cyan"),
        Text(state or "-", style=STATE_STYLE.get(state, "dim")),
        format_ns(entry.received_ns, local)[:23],  # to the millisecond
        entry.subject,
        f"{entry.stream_seq:,}",
        entry.reason if len(entry.reason) <= 120 else entry.reason[:119] + "…",
    ]


def payload_header(entry: QuarantineEntry, kind: str, local: bool) -> Text:
    """Two lines: what the payload is (and its replay), then why it is here."""
    text = Text(f"{entry.subject}  seq {entry.stream_seq:,}  ", style="bold")
    text.append(f"{KIND_LABEL[kind]}, {len(entry.raw):,} bytes", style="cyan")
    if entry.rows > 1:
        text.append(f"  ({entry.rows} rows)", style="dim")
    replay = entry.replay
    if replay is not None and replay.state == "done":
        text.append(f"  replayed {format_ns(replay.done_ns, local)[:19]} as seq "
                    f"{replay.new_stream_seq:,}", style="green")
    elif replay is not None:
        text.append(f"  replay interrupted {format_ns(replay.started_ns, local)[:19]}",
                    style="yellow")
    text.append(f"  entry {entry.entry_id}", style="dim")
    text.append(f"\n{entry.reason}", style="yellow")
    return text


class EntryTable(DataTable[Text | str]):
    """The quarantined entries; space marks one for replay."""

    BINDINGS: ClassVar[list[BindingType]] = keys.widget_bindings(keys.QUARANTINE_LIST)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.marked: set[str] = set()

    def action_toggle_mark(self) -> None:
        """Mark or unmark the entry under the cursor, then move down."""
        if not self.row_count:
            return
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        if key is None:
            return
        self.marked.symmetric_difference_update({key})
        self.update_cell(key, "mark", Text(MARK if key in self.marked else " ",
                                           style="bold cyan"))
        self.move_cursor(row=self.cursor_row + 1)
        panel = next((a for a in self.ancestors if isinstance(a, QuarantinePanel)), None)
        if panel is not None:
            panel.show_summary()


class QuarantinePanel(Vertical):
    """Renders a QuarantineView; reads and replays through the Service in workers."""

    def __init__(self, reader: Reader | None, replayer: Replayer | None,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.reader = reader
        self.replayer = replayer
        self.view: QuarantineView | None = None
        self.entries: dict[str, QuarantineEntry] = {}
        self.local_time = False
        self.loading = False

    def compose(self) -> ComposeResult:
        """Summary line, counts table, then the entries beside (or above) the payload."""
        yield Label("", id="q-summary", markup=False)
        counts: DataTable[Text | str] = DataTable(id="q-counts", cursor_type="none")
        counts.add_column("subject", key="subject")
        counts.add_column("reason", key="reason")
        counts.add_column("rows", key="rows")
        yield counts
        with Horizontal(id="q-body"):
            table = EntryTable(id="q-entries")
            for name in ("mark", "replay", "received", "subject", "seq", "reason"):
                table.add_column(" " if name == "mark" else name, key=name)
            yield table
            with Vertical(id="q-payload-box"):
                yield Label("", id="q-payload-header", markup=False)
                yield TextArea("", id="q-payload", read_only=True, show_line_numbers=False,
                               soft_wrap=False)

    @property
    def table(self) -> EntryTable:
        """The entries list (the tab's main widget)."""
        return self.query_one(EntryTable)

    def on_show(self) -> None:
        """Load when the tab becomes visible."""
        self.load()

    def load(self) -> None:
        """Read the quarantine tier again."""
        if self.reader is None or self.loading:
            return
        self.loading = True
        self.query_one("#q-summary", Label).update("reading the quarantine tier …")
        self._read()

    @work(thread=True, group="quarantine", exit_on_error=False)
    def _read(self) -> None:
        assert self.reader is not None
        try:
            view = self.reader()
        except Exception as exc:  # storage down, a damaged file: shown, the console stays up
            self.app.call_from_thread(self._failed, one_line(exc))
            return
        self.app.call_from_thread(self.show_view, view)

    def _failed(self, message: str) -> None:
        self.loading = False
        self.query_one("#q-summary", Label).update(Text(f"cannot read quarantine: {message}",
                                                         style="bold red"))

    def show_view(self, view: QuarantineView) -> None:
        """Fill the counts and the entries; marks and the cursor stay on entries still there."""
        self.loading = False
        self.view = view
        self.entries = {e.entry_id: e for e in view.entries}
        counts = self.query_one("#q-counts", DataTable)
        counts.clear()
        for c in view.counts:
            counts.add_row(c.subject, c.reason, Text(human_count(c.rows), justify="right"))
        self._fill_entries()
        self.show_summary()
        if self.app.focused is None and self.table.is_on_screen:
            # The tab key focused the list before its first layout, and Textual's late
            # Hide of the unlaid list took the focus away again: give it back.
            self.table.focus()

    def _fill_entries(self) -> None:
        table = self.table
        current = self.cursor_entry()
        table.marked &= set(self.entries)
        table.clear()
        for entry in self.entries.values():
            table.add_row(*entry_row(entry, entry.entry_id in table.marked, self.local_time),
                          key=entry.entry_id)
        if current is not None and current.entry_id in self.entries:
            table.move_cursor(row=table.get_row_index(current.entry_id))
        self.show_payload(self.cursor_entry())

    def show_summary(self) -> None:
        """`12 rows in 3 files · 4 entries · 2 marked`."""
        view = self.view
        if view is None:
            return
        text = (f"{human_count(view.rows)} rows in {view.files} files · "
                f"{len(view.entries)} entries")
        if view.truncated:
            text += " (newest only)"
        if self.table.marked:
            text += f" · {len(self.table.marked)} marked"
        self.query_one("#q-summary", Label).update(text)

    def cursor_entry(self) -> QuarantineEntry | None:
        """The entry under the cursor."""
        table = self.table
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.entries.get(key) if key is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The payload follows the cursor."""
        if event.data_table is self.table:
            self.show_payload(self.cursor_entry())

    def show_payload(self, entry: QuarantineEntry | None) -> None:
        """The whole raw payload: pretty JSON, text, or a hex dump."""
        header = self.query_one("#q-payload-header", Label)
        area = self.query_one("#q-payload", TextArea)
        if entry is None:
            header.update("no quarantined messages" if self.view is not None else "")
            area.load_text("")
            return
        kind, body = pretty_payload(entry.raw)
        header.update(payload_header(entry, kind, self.local_time))
        area.load_text(body)

    def set_local_time(self, local: bool) -> None:
        """Times in local time or UTC."""
        self.local_time = local
        if self.view is not None:
            self._fill_entries()

    # -- replay --------------------------------------------------------------------------

    def chosen(self) -> list[QuarantineEntry]:
        """The marked entries, else the one under the cursor."""
        marked = [e for e in self.entries.values() if e.entry_id in self.table.marked]
        if marked:
            return marked
        entry = self.cursor_entry()
        return [entry] if entry is not None else []

    def request_replay(self) -> None:
        """Ask, then replay the chosen entries."""
        entries = self.chosen()
        if not entries:
            self.notify("nothing to replay", severity="warning", timeout=3)
            return
        if self.replayer is None:
            self.notify("no service", severity="warning", timeout=3)
            return
        subjects = sorted({e.subject for e in entries})
        done = [e for e in entries if e.replay_state]
        detail = f"to {', '.join(subjects)}"
        if done:
            detail += f"\n{len(done)} of them replayed before: those will be refused"
        ids = [e.entry_id for e in entries]

        def answered(yes: bool | None) -> None:
            if yes:
                self._replay(ids)

        self.app.push_screen(ConfirmScreen(f"Replay {len(entries)} quarantined message"
                                           f"{'s' if len(entries) != 1 else ''}?", detail),
                             answered)

    @work(group="replay", exit_on_error=False)
    async def _replay(self, ids: list[str]) -> None:
        assert self.replayer is not None
        try:
            result = await self.replayer(ids)
        except Exception as exc:  # not connected, storage down: one line, nothing replayed
            self.notify(f"replay failed: {one_line(exc)}", title="replay", severity="error")
            return
        bad = result.of("refused") or result.of("failed")
        self.notify(result.summary(), title="replay",
                    severity="warning" if bad else "information", timeout=10)
        self.table.marked -= {o.entry_id for o in result.outcomes}
        self.load()
