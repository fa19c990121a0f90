"""The lazily loaded partition tree: tier → asset → dataset → value → date → hour → file."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from lakeconsole.errors import LakeError
from lakeconsole.query.catalog import CatalogNode
from lakeconsole.tui.format import human_bytes, human_count

Loader = Callable[[str], list[CatalogNode]]


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
        """Load a node's children the first time it opens."""
        if _path(event.node) not in self.loaded:
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

    @work(thread=True, group="catalog")
    def _fetch(self, node: TreeNode[CatalogNode | None], path: str) -> None:
        assert self.loader is not None
        try:
            children = self.loader(path)
        except (LakeError, OSError) as exc:
            self.app.call_from_thread(self._failed, path, str(exc))
            return
        self.app.call_from_thread(self._fill, node, path, children)

    def _failed(self, path: str, message: str) -> None:
        self.pending.discard(path)
        self.notify(f"cannot list {path or 'lake'}: {message}", severity="error")

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
                current.data = child
                current.set_label(node_label(child))
            else:
                node.add(node_label(child), child, before=index if index < len(node.children)
                         else None, allow_expand=not child.is_leaf)


def _path(node: TreeNode[CatalogNode | None]) -> str:
    return node.data.path if node.data is not None else ""
