"""The full-cell view: one value whole (raw ns for times, pretty JSON), scrollable, copyable."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea


class CellScreen(ModalScreen[None]):
    """A read-only text view of one cell; ctrl+c copies the selection or the whole value."""

    DEFAULT_CSS = """
    CellScreen { align: center middle; }
    #cell-box {
        width: 90%; height: 80%; border: thick $primary; background: $surface; padding: 0 1;
    }
    #cell-title { width: 1fr; text-style: bold; }
    #cell-text { height: 1fr; border: none; padding: 0; }
    #cell-hint { color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close", id="cell_close"),
        Binding("ctrl+c", "copy_value", "Copy", priority=True),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        """Title (column and row), the value, the keys."""
        with Vertical(id="cell-box"):
            yield Label(self.title_text, id="cell-title", markup=False)
            yield TextArea(self.text, id="cell-text", read_only=True, soft_wrap=True,
                           show_cursor=False)
            yield Label("ctrl+c: copy (the selection, else all)   esc: close", id="cell-hint")

    def on_mount(self) -> None:
        """Focus the text so the arrows scroll it."""
        self.query_one(TextArea).focus()

    def action_copy_value(self) -> None:
        """Copy the selected text, or the whole value when nothing is selected."""
        area = self.query_one(TextArea)
        text = area.selected_text or self.text
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {len(text):,} characters", timeout=2)

    def action_close(self) -> None:
        """Back to the grid."""
        self.dismiss(None)
