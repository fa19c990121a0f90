"""The SQL editor: highlighting, completion of view and column names, a persisted history."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import OptionList, TextArea
from textual.widgets.option_list import Option

from lakeconsole.query.views import view_columns
from lakeconsole.tui import history, keys
from lakeconsole.tui.completion import Candidate, candidates, word_before

AUTO_PREFIX = 2  # letters typed before the completion offers itself unasked
class CompletionList(OptionList):
    """The completion popup: drawn over the editor, below the cursor."""

    DEFAULT_CSS = """
    CompletionList {
        overlay: screen; position: absolute; display: none;
        width: auto; min-width: 24; max-width: 70; height: auto; max-height: 10;
        border: round $accent; background: $panel; padding: 0;
    }
    """
    can_focus = False


class SqlTextArea(TextArea):
    """A TextArea for SQL: tree-sitter highlighting, completion, history keys."""

    BINDINGS: ClassVar[list[BindingType]] = keys.widget_bindings(keys.EDITOR)

    def __init__(self, text: str, **kwargs: Any) -> None:
        super().__init__(text, language="sql", show_line_numbers=True, **kwargs)
        self.names = view_columns()
        self.queries: list[str] = []
        self.query_at: int | None = None  # index shown, None: the draft
        self.draft = ""
        self._typed = False

    @property
    def popup(self) -> CompletionList:
        """The completion popup beside this editor."""
        assert self.parent is not None
        return self.parent.query_one(CompletionList)

    # -- completion --------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        popup = self.popup
        if popup.display and event.key in ("up", "down", "tab", "enter", "escape"):
            event.prevent_default()
            event.stop()
            if event.key == "up":
                popup.action_cursor_up()
            elif event.key == "down":
                popup.action_cursor_down()
            elif event.key == "escape":
                self.hide_completion()
            else:
                self.accept_completion()
            return
        self._typed = event.is_printable or event.key == "backspace"
        await super()._on_key(event)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        """Typing offers completions (after AUTO_PREFIX letters, or after `view.`)."""
        typed, self._typed = self._typed, False
        if typed or self.popup.display:
            self.show_completion(automatic=True)

    def on_blur(self) -> None:
        """The popup belongs to the focused editor."""
        self.hide_completion()

    def current_word(self) -> tuple[str | None, str]:
        """The qualifier and partial word before the cursor."""
        row, column = self.cursor_location
        return word_before(self.document.get_line(row), column)

    def offered(self, automatic: bool = False) -> list[Candidate]:
        """The completions for the word before the cursor."""
        qualifier, prefix = self.current_word()
        if automatic and qualifier is None and len(prefix) < AUTO_PREFIX:
            return []
        if automatic and qualifier is not None and qualifier.lower() not in self.names:
            return []
        return candidates(qualifier, prefix, self.names)

    def show_completion(self, automatic: bool = False) -> None:
        """Open the popup below the cursor (or close it when nothing fits)."""
        found = self.offered(automatic)
        popup = self.popup
        if not found:
            self.hide_completion()
            return
        popup.clear_options()
        popup.add_options([Option(Text.assemble(c.text, (f"  {c.kind}", "dim")), id=c.text)
                           for c in found])
        popup.highlighted = 0
        x, y = self.cursor_screen_offset
        assert isinstance(self.parent, Widget)
        origin = self.parent.content_region.offset
        _, prefix = self.current_word()  # the popup's names line up with the word
        popup.styles.offset = (max(0, x - len(prefix) - origin.x - 1), y - origin.y + 1)
        popup.display = True

    def hide_completion(self) -> None:
        """Close the popup."""
        self.popup.display = False

    def accept_completion(self) -> None:
        """Replace the partial word with the highlighted completion."""
        popup = self.popup
        index = popup.highlighted
        self.hide_completion()
        if index is None:
            return
        text = popup.get_option_at_index(index).id or ""
        _, prefix = self.current_word()
        row, column = self.cursor_location
        self.replace(text, (row, column - len(prefix)), (row, column))

    def action_complete(self) -> None:
        """ctrl+space: offer completions now (every view when the word is empty)."""
        self.show_completion()

    # -- history -----------------------------------------------------------------------

    def on_mount(self) -> None:
        """Load the history (a file: in a thread)."""
        self._load_history()

    @work(thread=True, group="history")
    def _load_history(self) -> None:
        queries = history.load()
        self.app.call_from_thread(self._loaded, queries)

    def _loaded(self, queries: list[str]) -> None:
        self.queries = queries

    def remember(self, sql: str) -> None:
        """A query ran: last in the history, which is saved (in a thread); no popup left."""
        self.hide_completion()
        self.queries = history.remember(self.queries, sql)
        self.query_at = None
        self._save_history(sql)

    @work(thread=True, group="history", exclusive=False)
    def _save_history(self, sql: str) -> None:
        try:
            queries = history.add(sql)  # re-read: another console may have added some
        except OSError as exc:  # a read-only home: the history stays in memory
            self.app.call_from_thread(self.notify, f"history not saved: {exc}",
                                      severity="warning", timeout=5)
            return
        self.app.call_from_thread(self._loaded, queries)

    def action_history(self, step: int) -> None:
        """ctrl+up / ctrl+down: older / newer queries; past the newest, the draft again."""
        if not self.queries:
            self.notify("no queries in the history yet", timeout=2)
            return
        if self.query_at is None:
            if step > 0:
                return
            self.draft = self.text
            at = len(self.queries) - 1
        else:
            at = self.query_at + step
        if at >= len(self.queries):
            self.query_at = None
            self._show(self.draft)
            return
        self.query_at = max(0, at)
        self._show(self.queries[self.query_at])

    def _show(self, text: str) -> None:
        self.hide_completion()
        self.text = text
        self.move_cursor(self.document.end)


class SqlEditor(Vertical):
    """The SQL text area and its completion popup."""

    DEFAULT_CSS = """
    SqlEditor { height: auto; }
    """

    def __init__(self, text: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.initial = text

    def compose(self) -> ComposeResult:
        """The editor (id q-sql) and the hidden popup."""
        yield SqlTextArea(self.initial, id="q-sql")
        yield CompletionList(id="sql-completion")

    @property
    def area(self) -> SqlTextArea:
        """The text area."""
        return self.query_one(SqlTextArea)
