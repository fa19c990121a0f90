"""A button that names its key: `Compact [k]`, taken from the keymap and shown literally."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Button

from lakeconsole.tui.keys import BY_ID
from lakeconsole.tui.screens.help import key_display


def key_label(label: str, keys: str) -> Content:
    """`Compact [k]` as plain content: a str label would read `[k]` as markup and drop it."""
    return Content(f"{label} [{key_display(keys)}]")


class KeyButton(Button):
    """Runs a console action (keys.ACTIONS id) and shows its current key in the label."""

    def __init__(self, label: str, action_id: str, **kwargs: object) -> None:
        action = BY_ID[action_id]
        super().__init__(key_label(label, action.keys), action=f"app.{action.action}",
                         **kwargs)  # type: ignore[arg-type]
        self.base_label = label
        self.action_id = action_id

    def on_mount(self) -> None:
        """Show the key after console.keys overrides (the app knows them before compose)."""
        keymap: dict[str, str] = getattr(self.app, "keymap_effective", {})
        keys = keymap.get(self.action_id)
        if keys:
            self.label = key_label(self.base_label, keys)
