"""Every console action, its default key and where it applies; ids double as keymap names."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Action:
    """One user action: keymap id, Textual action string, default keys, footer text, scope."""

    id: str
    action: str
    keys: str
    description: str
    help: str
    scope: str = "global"  # global | compact | query
    priority: bool = False
    show: bool = True


ACTIONS: tuple[Action, ...] = (
    Action("quit", "quit", "q", "Quit", "Flush every buffer, ack, and quit"),
    Action("force_quit", "quit", "ctrl+c", "Quit", "Same as q (clean flush first)",
           priority=True, show=False),
    Action("help", "help", "question_mark,f1", "Help", "Show every key binding"),
    Action("tab_dashboard", "show_tab('dashboard')", "1", "Dashboard",
           "Ingest counters, rate and flush log"),
    Action("tab_partitions", "show_tab('partitions')", "2", "Partitions",
           "Browse tiers, datasets, partitions and files"),
    Action("tab_compact", "show_tab('compact')", "3", "Compact", "Bronze → Silver compaction"),
    Action("tab_query", "show_tab('query')", "4", "Query", "Read a partition or run DuckDB SQL"),
    Action("refresh", "refresh_tree", "r", "Refresh", "Reload the partition tree"),
    Action("focus_query", "focus_query", "slash", "SQL", "Focus the SQL editor"),
    Action("back", "back", "escape", "Back", "Leave the input, then back to the dashboard"),
    Action("compact", "compact", "k", "Compact", "Compact the date / dataset / partition",
           "compact"),
    Action("compact_all", "compact_all", "a", "All schemas",
           "Compact every dataset for the date", "compact"),
    Action("cancel_compaction", "cancel_compaction", "x", "Cancel",
           "Cancel the running compaction", "compact"),
    Action("run_query", "run_query", "ctrl+enter,f5", "Run", "Run the reader form or the SQL",
           "query", priority=True),
    Action("query_mode", "query_mode", "ctrl+t", "Reader/SQL",
           "Switch between the reader form and SQL", "query", priority=True),
    Action("export_csv", "export('csv')", "ctrl+o", "CSV", "Export the result to CSV", "query",
           priority=True),
    Action("export_parquet", "export('parquet')", "ctrl+b", "Parquet",
           "Export the result to Parquet", "query", priority=True),
)

BY_ID = {a.id: a for a in ACTIONS}


def bindings() -> list[BindingType]:
    """The App's BINDINGS, each with its action id so `App.set_keymap` can rebind it."""
    return [
        Binding(a.keys, a.action, a.description, show=a.show, id=a.id, priority=a.priority,
                tooltip=a.help)
        for a in ACTIONS
    ]


def split_keymap(keys: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Valid overrides (action id → key) and the ids that are not actions."""
    valid = {k: v for k, v in keys.items() if k in BY_ID}
    return valid, sorted(set(keys) - set(valid))
