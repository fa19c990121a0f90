"""The `?` screen: every action, its key (after keymap overrides) and what it does."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lakeconsole.tui.keys import ACTIONS, WIDGET_KEYS, WIDGET_SCOPES, split_keys

SQL_VIEWS_HELP = (
    "SQL views (Query tab): {tier}_{dataset}, the dataset's name with _ for the dot: "
    "bronze_stocks_trades, silver_options_greeks, gold_levels_signals, …; and quarantine. "
    "Silver views hold the current files only.")
KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "esc"}


def key_display(keys: str) -> str:
    """`question_mark,f1` → `? / f1`."""
    return " / ".join(KEY_NAMES.get(k, k) for k in split_keys(keys))


def bindings_table(keymap: dict[str, str]) -> Table:
    """Console actions (remapped keys marked `*`), then the keys widgets handle themselves.

    Three columns, the action's tab under its id, so the help reads on 80 columns too.
    """
    table = Table(title="lakeconsole keys", expand=True, box=None, header_style="bold")
    table.add_column("key", style="bold cyan", no_wrap=True)
    table.add_column("action (config name)", no_wrap=True)
    table.add_column("what it does", ratio=1)
    for a in ACTIONS:
        keys = keymap.get(a.id, a.keys)
        key = Text(key_display(keys))
        if split_keys(keys) != split_keys(a.keys):
            key.append(" *", style="bold yellow")
        action = Text(a.id)
        if a.scope != "global":
            where = f"in the {a.scope}" if a.scope in WIDGET_SCOPES else f"on the {a.scope} tab"
            action.append(f"\n  {where}", style="dim")
        table.add_row(key, action, a.help)
    table.add_row()
    table.add_row(Text("widget keys", style="bold"), Text("(fixed)", style="dim"))
    for w in WIDGET_KEYS:
        table.add_row(w.keys, Text(w.where, style="dim"), w.help)
    return table


class HelpScreen(ModalScreen[None]):
    """A modal table of key bindings; escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="help_close")]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        """A scrollable table of bindings."""
        with VerticalScroll(id="help-body"):
            yield Static(bindings_table(self.keymap))
            yield Static(SQL_VIEWS_HELP, id="help-views", markup=False)
            yield Static("* remapped in the config file's [console.keys], e.g. "
                         "run_query = \"f9\".  Single letters type into a focused text field: "
                         "press esc first.  esc closes this screen.", id="help-hint",
                         markup=False)

    async def action_dismiss(self, result: None = None) -> None:
        """Close the help screen."""
        self.dismiss(None)
