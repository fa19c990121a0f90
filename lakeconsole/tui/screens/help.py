"""The `?` screen: every action, its key (after keymap overrides) and what it does."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lakeconsole.tui.keys import ACTIONS


def key_display(keys: str) -> str:
    """`question_mark,f1` → `? / f1`."""
    names = {"question_mark": "?", "slash": "/", "escape": "esc"}
    return " / ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


class HelpScreen(ModalScreen[None]):
    """A modal table of key bindings; escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help_close")]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        """A scrollable table of bindings."""
        table = Table(title="lakeconsole keys", expand=True, box=None, header_style="bold")
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action", no_wrap=True)
        table.add_column("where")
        table.add_column("what it does")
        for a in ACTIONS:
            keys = self.keymap.get(a.id, a.keys)
            table.add_row(key_display(keys), a.id, a.scope, a.help)
        table.add_row("ctrl+p", "palette", "global", "Command palette: every action and theme")
        with VerticalScroll(id="help-body"):
            yield Static(table)
            yield Static("Rebind any action in the config file: [console.keys] "
                         "run_query = \"f9\".  esc closes this screen.", id="help-hint")

    async def action_dismiss(self, result: None = None) -> None:
        """Close the help screen."""
        self.dismiss(None)
