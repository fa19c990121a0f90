"""Every console action, its default key and where it applies; ids double as keymap names."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType
from textual.keys import _character_to_key

RESULTS = "result table"  # scopes of actions bound on a widget rather than on the App
EDITOR = "SQL editor"
QUARANTINE_LIST = "quarantine list"
WIDGET_SCOPES = (RESULTS, EDITOR, QUARANTINE_LIST)


@dataclass(frozen=True)
class Action:
    """One user action: keymap id, Textual action string, default keys, footer text, scope."""

    id: str
    action: str
    keys: str
    description: str
    help: str
    scope: str = "global"  # global | partitions | compact | query | a WIDGET_SCOPES widget
    priority: bool = False
    show: bool = True


ACTIONS: tuple[Action, ...] = (
    Action("quit", "quit", "q", "Quit", "Flush every buffer, ack, and quit"),
    Action("force_quit", "quit", "ctrl+q", "Quit",
           "Quit from anywhere, even a text field (flushes first); always ctrl+q",
           priority=True, show=False),
    Action("help", "help", "question_mark,f1", "Help", "Show every key binding"),
    # The tab labels show these keys, so the footer keeps its room for the tab's own keys.
    Action("tab_dashboard", "show_tab('dashboard')", "1", "Dashboard",
           "Ingest counters, rate and flush log", show=False),
    Action("tab_partitions", "show_tab('partitions')", "2", "Partitions",
           "Browse the lake; focuses the tree", show=False),
    Action("tab_compact", "show_tab('compact')", "3", "Compact",
           "Bronze → Silver compaction; focuses the Compact button",
           show=False),
    Action("tab_query", "show_tab('query')", "4", "Query",
           "Read a partition or run DuckDB SQL; focuses the result table", show=False),
    Action("tab_health", "show_tab('health')", "5", "Health",
           "Coverage heat map per UTC hour, stream limits, upstream losses; focuses the map",
           show=False),
    Action("tab_quarantine", "show_tab('quarantine')", "6", "Quarantine",
           "Quarantine counts per subject and reason, payloads, replay; focuses the list",
           show=False),
    Action("back", "back", "escape", "Back",
           "Leave the text field or go up the tree; at the top, back to the dashboard"),
    Action("local_time", "toggle_local_time", "t", "UTC/local",
           "Show times in UTC or in local time (the header says which)"),
    Action("focus_query", "focus_query", "slash", "SQL", "Focus the SQL editor"),
    Action("refresh", "refresh_tree", "r", "Refresh", "Reload the partition tree", "partitions"),
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
           "Export the result to Parquet (raw values: times stay ns)", "query", priority=True),
    Action("chart", "chart", "c", "Chart",
           "Chart the result over event time: price and size, bid/ask, Gold levels", "query"),
    Action("refresh_quarantine", "refresh_quarantine", "r", "Refresh",
           "Reload the quarantine counts and entries", "quarantine"),
    Action("replay", "replay", "R", "Replay",
           "Republish the marked entries (or the one under the cursor) to their subjects, "
           "after a confirm; each entry at most once", "quarantine"),
    # Bound on the widget itself (not the App): live only while it has the focus.
    Action("sort", "sort_column", "s", "Sort",
           "Sort by the cursor's column: ascending ▲, descending ▼, off", RESULTS),
    Action("filter", "filter_rows", "slash", "Filter",
           "Filter rows: keep those with a cell containing the text (esc clears)", RESULTS),
    Action("cell_view", "show_cell", "enter", "Cell",
           "The whole value: raw ns for times, pretty JSON; ctrl+c copies it", RESULTS),
    Action("copy_row", "copy_row", "y", "Copy row",
           "Copy the cursor's row as tab-separated text", RESULTS),
    Action("complete", "complete", "ctrl+space", "Complete",
           "Complete a view or column name (also offered while typing)", EDITOR, show=False),
    Action("history_back", "history(-1)", "ctrl+up", "Older",
           "Previous query from the history (kept across runs)", EDITOR),
    Action("history_forward", "history(1)", "ctrl+down", "Newer",
           "Next query from the history", EDITOR),
    Action("mark", "toggle_mark", "space", "Mark",
           "Mark or unmark the entry for replay", QUARANTINE_LIST),
)

BY_ID = {a.id: a for a in ACTIONS}
QUIT_KEY = "ctrl+q"  # Textual's convention: it must always quit
COPY_KEY = "ctrl+c"  # copies wherever something is selected; it never quits


@dataclass(frozen=True)
class WidgetKey:
    """A key a widget handles itself (not remappable), listed in the help."""

    keys: str
    where: str
    help: str


WIDGET_KEYS: tuple[WidgetKey, ...] = (
    WidgetKey("← / →", "tree", "Collapse / expand (then to the parent / first child)"),
    WidgetKey("enter", "tree", "Select: fills the Compact and Query forms; on a file, opens "
              "its detail pane (schema, row groups, metadata), which follows the cursor"),
    WidgetKey("space", "tree", "Open or close the node"),
    WidgetKey("escape", "tree", "Up to the parent node; at the top, back to the dashboard"),
    WidgetKey(COPY_KEY, "tree", "Copy the node's lake path"),
    WidgetKey(COPY_KEY, "result table", "Copy the cell, or the range selected with shift+arrows"),
    WidgetKey("↑ ↓ tab esc", "completion", "Choose a name; tab or enter inserts it; esc closes"),
    WidgetKey(COPY_KEY, "editor, fields", "Copy the selected text"),
    WidgetKey(COPY_KEY, "elsewhere", "Nothing to copy: a reminder of the quit key"),
    WidgetKey("arrows", "heat map", "Move between hours and partitions"),
    WidgetKey("enter", "heat map", "The hour's figures, gap ranges and upstream losses"),
    WidgetKey("r", "heat map", "Load the date's coverage again"),
    WidgetKey("[ / ]", "heat map", "Previous / next day (or type a date in the date field)"),
    WidgetKey("ctrl+p", "global", "Command palette: every action and theme"),
)


def split_keys(keys: str) -> list[str]:
    """`"?, f1"` → `["question_mark", "f1"]`: Textual's key names, blanks dropped."""
    names = [k.strip() for k in keys.split(",") if k.strip()]
    return [_character_to_key(k) if len(k) == 1 else k for k in names]


def bindings() -> list[BindingType]:
    """The App's BINDINGS, each with its action id so `App.set_keymap` can rebind it.

    Tab actions come first: the footer lists keys in this order and cuts at the right edge,
    so on a narrow terminal the current tab's keys stay visible.
    """
    ordered = sorted((a for a in ACTIONS if a.scope not in WIDGET_SCOPES),
                     key=lambda a: a.scope == "global")
    return [_binding(a) for a in ordered]


def widget_bindings(scope: str) -> list[BindingType]:
    """The BINDINGS of the widget behind `scope` (RESULTS, EDITOR); remappable by id too."""
    return [_binding(a) for a in ACTIONS if a.scope == scope]


def _binding(a: Action) -> Binding:
    return Binding(a.keys, a.action, a.description, show=a.show, id=a.id, priority=a.priority,
                   tooltip=a.help)


def quit_keys(overrides: dict[str, str]) -> set[str]:
    """Every key that quits once `overrides` apply."""
    return {k for a in ACTIONS if a.action == "quit"
            for k in split_keys(overrides.get(a.id, a.keys))}


def check_keymap(keys: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The overrides to apply (action id → keys) and a warning for each one refused.

    Refused: unknown ids, a remap to no key, ctrl+c (copy), a remap of force_quit without
    ctrl+q, and any remap that takes a quit key for another action (Textual's keymap would
    drop quit's binding on that key).
    """
    warnings = []
    unknown = sorted(set(keys) - set(BY_ID))
    if unknown:
        warnings.append(f"unknown actions in console.keys: {', '.join(unknown)}")
    accepted: dict[str, str] = {}
    # quit's own remaps first: the keys they keep are the ones no other action may take
    known = sorted((k for k in keys if k in BY_ID), key=lambda k: BY_ID[k].action != "quit")
    for action_id in known:
        refusal = _refusal(action_id, split_keys(keys[action_id]), accepted)
        if refusal:
            warnings.append(f"console.keys.{action_id} = {keys[action_id]!r} ignored: {refusal}")
        else:
            accepted[action_id] = ",".join(split_keys(keys[action_id]))
    return accepted, warnings


def _refusal(action_id: str, new_keys: list[str], accepted: dict[str, str]) -> str:
    if not new_keys:
        return "no key left for it"
    if COPY_KEY in new_keys:
        return f"{COPY_KEY} copies and never runs an action"
    if action_id == "force_quit" and QUIT_KEY not in new_keys:
        return f"{QUIT_KEY} always quits"
    if BY_ID[action_id].action == "quit":
        return ""
    taken = sorted(set(new_keys) & quit_keys(accepted))
    return f"it would take {', '.join(taken)} away from quit" if taken else ""
