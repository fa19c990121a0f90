"""Command palette entries (ctrl+p) for every console action."""

from __future__ import annotations

from collections.abc import Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from lakeconsole.tui.keys import ACTIONS

if TYPE_CHECKING:
    from lakeconsole.tui.app import LakeConsoleApp


class LakeCommands(Provider):
    """Every action of keys.ACTIONS, searchable by description and id."""

    def _entries(self) -> list[tuple[str, str, partial[Coroutine[Any, Any, None]]]]:
        app: LakeConsoleApp = self.app  # type: ignore[assignment]
        seen = set()
        out = []
        for a in ACTIONS:
            if a.action in seen:
                continue
            seen.add(a.action)
            title = f"{a.description} ({a.id.replace('_', ' ')})"
            out.append((title, a.help, partial(app.palette_run, a.action)))
        return out

    async def discover(self) -> Hits:
        """All actions, shown when the palette opens."""
        for title, help_text, callback in self._entries():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """Actions matching what was typed."""
        matcher = self.matcher(query)
        for title, help_text, callback in self._entries():
            score = max(matcher.match(title), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
