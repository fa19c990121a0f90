"""The lazily loaded partition tree: tier → asset → dataset → value → date → hour → file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from lakeconsole.query.catalog import CatalogNode
from lakeconsole.query.inspect import FileDetail
from lakeconsole.tui.failures import one_line
from lakeconsole.tui.format import human_bytes, human_count
from lakeconsole.tui.widgets.file_detail import FileDetailPane

if TYPE_CHECKING:  # a plain dataclass, but its module imports pyiceberg
    from lakeconsole.iceberg.history import SnapshotEntry

Loader = Callable[[str], list[CatalogNode]]
Describer = Callable[[str], FileDetail]
Historian = Callable[[str], "list[SnapshotEntry]"]


def node_label(node: CatalogNode) -> Text:
    """`name  3 files · 1,000 rows · 12.0 KB`."""
    details = [] if node.kind == "file" else [f"{node.files} files"]
    if node.rows is not None:
        details.append(f"{human_count(node.rows)} rows")
    details.append(human_bytes(node.bytes))
    return Text.assemble((node.name, "bold" if node.kind == "tier" else ""),
                         ("  " + " · ".join(details), "dim"))


class PartitionTree(Tree[CatalogNode | None]):
    """Children are fetched through `loader` (Service.catalog) in a thread worker on expand."""

    # The help lists these (keys.WIDGET_KEYS); the hint line under the tree names them too.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "collapse_or_parent", "Collapse", show=False),
        Binding("right", "expand_or_child", "Expand", show=False),
        Binding("escape", "parent_or_leave", "Up", show=False),
        Binding("ctrl+c", "copy_path", "Copy path", show=False),
    ]

    class LoadFailed(Message):
        """Listing a level of the lake failed; `message` is one line (the app shows it)."""

        def __init__(self, path: str, message: str) -> None:
            super().__init__()
            self.path = path
            self.message = message

    def __init__(self, loader: Loader | None, **kwargs: object) -> None:
        super().__init__("lake", None, **kwargs)  # type: ignore[arg-type]
        self.loader = loader
        self.loaded: set[str] = set()
        self.pending: set[str] = set()

    def on_mount(self) -> None:
        """Open the root and list the tiers."""
        self.root.expand()
        self.load(self.root)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[CatalogNode | None]) -> None:
        """Load a node's children whenever it opens: closed nodes are not kept fresh."""
        self.load(event.node)

    def action_collapse_or_parent(self) -> None:
        """Close an open node; on a closed one (or a file) go to its parent."""
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    def action_expand_or_child(self) -> None:
        """Open a closed node; on an open one go to its first child."""
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_parent_or_leave(self) -> None:
        """Go up one level; at the top the key falls through to the app (leave the tab)."""
        node = self.cursor_node
        if node is None or node.parent is None:
            raise SkipAction()
        self.move_cursor(node.parent)

    def action_copy_path(self) -> None:
        """Copy the lake path of the node under the cursor."""
        node = self.cursor_node
        path = _path(node) if node is not None else ""
        if not path:
            raise SkipAction()  # the root has no path: nothing selected to copy
        self.app.copy_to_clipboard(path)
        self.notify(f"copied {path}", timeout=2)

    def load(self, node: TreeNode[CatalogNode | None]) -> None:
        """Fetch (or re-fetch) the children of a node."""
        path = _path(node)
        if self.loader is None or path in self.pending:
            return
        self.pending.add(path)
        self._fetch(node, path)

    def reload(self) -> None:
        """Re-fetch every loaded node that is open (new flushes, new partitions)."""
        for node in self._open_nodes(self.root):
            self.load(node)

    def _open_nodes(self, node: TreeNode[CatalogNode | None]) -> list[TreeNode[CatalogNode | None]]:
        if node is not self.root and not node.is_expanded:
            return []
        found = [node] if _path(node) in self.loaded or node is self.root else []
        for child in node.children:
            found.extend(self._open_nodes(child))
        return found

    @work(thread=True, group="catalog", exit_on_error=False)
    def _fetch(self, node: TreeNode[CatalogNode | None], path: str) -> None:
        assert self.loader is not None
        try:
            children = self.loader(path)
        except Exception as exc:  # storage down, bad credentials, anything: shown, not fatal
            self.app.call_from_thread(self._failed, path, one_line(exc))
            return
        self.app.call_from_thread(self._fill, node, path, children)

    def _failed(self, path: str, message: str) -> None:
        self.pending.discard(path)
        self.post_message(self.LoadFailed(path, message))

    def _fill(self, node: TreeNode[CatalogNode | None], path: str,
              children: list[CatalogNode]) -> None:
        """Merge fresh children into the node: update labels, add new, drop vanished."""
        self.pending.discard(path)
        self.loaded.add(path)
        existing = {c.data.path: c for c in node.children if c.data is not None}
        fresh = {c.path for c in children}
        for gone in set(existing) - fresh:
            existing[gone].remove()
        for index, child in enumerate(children):
            current = existing.get(child.path)
            if current is not None:
                # An open child shows its own children: its counts are their sum, not this
                # (older or newer) listing's, so a parent never disagrees with what is below.
                current.data = _summed(current, child) if self._shows_children(current) else child
                current.set_label(node_label(current.data))
            else:
                node.add(node_label(child), child, before=index if index < len(node.children)
                         else None, allow_expand=not child.is_leaf)
        self._roll_up(node)

    def _shows_children(self, node: TreeNode[CatalogNode | None]) -> bool:
        """Open, loaded and with children: its counts come from them."""
        return (node.data is not None and node.is_expanded and bool(node.children)
                and node.data.path in self.loaded)

    def _roll_up(self, node: TreeNode[CatalogNode | None] | None) -> None:
        """Recount a node and each open ancestor from the children they show."""
        while node is not None and node.data is not None and self._shows_children(node):
            summed = _summed(node, node.data)
            if summed != node.data:
                node.data = summed
                node.set_label(node_label(summed))
            node = node.parent


def _summed(node: TreeNode[CatalogNode | None], base: CatalogNode) -> CatalogNode:
    """`base` with files, bytes (and rows, where it has them) summed over node's children."""
    kids = [c.data for c in node.children if c.data is not None]
    rows = base.rows
    if rows is not None and all(k.rows is not None for k in kids):
        rows = sum(k.rows or 0 for k in kids)
    return replace(base, files=sum(k.files for k in kids), bytes=sum(k.bytes for k in kids),
                   rows=rows)


def _path(node: TreeNode[CatalogNode | None]) -> str:
    return node.data.path if node.data is not None else ""


class PartitionBrowser(Container):
    """The tree and, beside it (below it on narrow terminals), a selected file's detail.

    Enter on a file opens the pane; while it is open it follows the cursor over files and
    closes when the cursor leaves them. Footers are read through `describer`
    (Service.describe_file) in a thread worker. With `historian` (Service.iceberg_history,
    given when Iceberg is on), enter on a Silver or Gold dataset shows its table's snapshots
    there.
    """

    def __init__(self, loader: Loader | None, describer: Describer | None,
                 historian: Historian | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.loader = loader
        self.describer = describer
        self.historian = historian

    def compose(self) -> ComposeResult:
        """The tree (id `tree`) and the hidden detail pane."""
        yield PartitionTree(self.loader, id="tree")
        yield FileDetailPane(id="file-detail")

    @property
    def pane(self) -> FileDetailPane:
        """The detail pane."""
        return self.query_one(FileDetailPane)

    def on_tree_node_selected(self, event: Tree.NodeSelected[CatalogNode | None]) -> None:
        """Enter on a file opens its detail, on a Silver or Gold dataset its snapshot history
        (the event goes on: the app fills the forms)."""
        node = event.node.data
        if node is not None and node.is_leaf:
            self.describe(node.path)
        elif (node is not None and node.kind == "dataset" and node.tier in ("silver", "gold")
              and node.dataset and self.historian is not None):
            self.show_history(node.path, node.dataset)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[CatalogNode | None]) -> None:
        """An open pane follows the cursor over files and closes elsewhere."""
        if not self.pane.is_open:
            return
        node = event.node.data
        if node is not None and node.is_leaf:
            if node.path != self.pane.path:
                self.describe(node.path)
        elif node is None or node.path != self.pane.path:
            self.pane.close()

    def describe(self, path: str) -> None:
        """Open the pane on `path` and read its footer."""
        self.pane.open(path)
        # Stacked on a narrow screen, the tree just lost half its height: keep the cursor seen.
        self.call_after_refresh(self._show_cursor)
        if self.describer is not None:
            self._describe(path)

    def show_history(self, path: str, dataset: str) -> None:
        """Open the pane on the snapshot history of the dataset's table at `path`."""
        self.pane.open_history(path, dataset)
        self.call_after_refresh(self._show_cursor)
        self._history(path, dataset)

    def _show_cursor(self) -> None:
        tree = self.query_one(PartitionTree)
        if tree.cursor_node is not None:
            tree.scroll_to_node(tree.cursor_node, animate=False)

    @work(thread=True, group="file-detail", exclusive=True, exit_on_error=False)
    def _describe(self, path: str) -> None:
        assert self.describer is not None
        try:
            detail = self.describer(path)
        except Exception as exc:  # a vanished or damaged file, storage down: shown in the pane
            self.app.call_from_thread(self.pane.show_error, path, one_line(exc))
            return
        self.app.call_from_thread(self.pane.show, detail)

    @work(thread=True, group="iceberg-history", exclusive=True, exit_on_error=False)
    def _history(self, path: str, dataset: str) -> None:
        assert self.historian is not None
        try:
            entries = self.historian(dataset)
        except Exception as exc:  # the catalog unreachable, anything: shown in the pane
            self.app.call_from_thread(self.pane.show_error, path, one_line(exc),
                                      "read the snapshot history of")
            return
        self.app.call_from_thread(self.pane.show_history, path, entries)
