"""Command palette entries (ctrl+p) for every console action."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider

from lakeconsole.tui.keys import ACTIONS, BY_ID, WIDGET_SCOPES, Action

PaletteCallback = Callable[[], Coroutine[Any, Any, None]]


async def run_from_palette(app: App[Any], action: Action) -> None:
    """Run `action` through the app's action system, first showing its tab if it has one."""
    # The app's check_action only allows a panel action on its own tab (so the footer shows
    # the right keys); the palette offers every action, so it goes to that tab first.
    if action.scope != "global":
        await app.run_action(BY_ID[f"tab_{action.scope}"].action)
    await app.run_action(action.action)


def palette_entries(app: App[Any]) -> list[tuple[str, str, PaletteCallback]]:
    """(title, help, callback) for each distinct action of keys.ACTIONS."""
    seen: set[str] = set()
    out: list[tuple[str, str, PaletteCallback]] = []
    for a in ACTIONS:
        if a.action in seen:  # force_quit (ctrl+q) is a second key for quit, not a command
            continue
        if a.scope in WIDGET_SCOPES:  # keys of the focused grid or editor, not app commands
            continue
        seen.add(a.action)
        title = f"{a.description} ({a.id.replace('_', ' ')})"
        out.append((title, a.help, partial(run_from_palette, app, a)))
    return out


class LakeCommands(Provider):
    """Every action of keys.ACTIONS, searchable by description and id."""

    async def discover(self) -> Hits:
        """All actions, shown when the palette opens."""
        for title, help_text, callback in palette_entries(self.app):
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        """Actions matching what was typed."""
        matcher = self.matcher(query)
        for title, help_text, callback in palette_entries(self.app):
            score = max(matcher.match(title), matcher.match(help_text) * 0.8)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
