"""A footer that leaves out the keys it has no room for, instead of cutting one in half."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer


class FittedFooter(Footer):
    """Textual's Footer; keys past the palette key are hidden whole (the help lists them).

    The app orders bindings so the current tab's keys come first: they are the last to go.
    """

    def compose(self) -> ComposeResult:
        """The keys, then a trim once they have been laid out."""
        yield from super().compose()
        self.call_after_refresh(self.trim)

    def on_resize(self) -> None:
        """Lay every key out again at the new width, then trim."""
        for key in self.query("FooterKey"):
            key.display = True
        self.call_after_refresh(self.trim)

    def trim(self) -> None:
        """Hide the first key that does not fit before the palette key, and all after it."""
        keys = [k for k in self.query("FooterKey") if not k.has_class("-command-palette")]
        palettes = [k for k in self.query("FooterKey") if k.has_class("-command-palette")]
        limit = palettes[0].region.x if palettes else self.region.right
        overflow = False
        for key in keys:
            overflow = overflow or key.region.right > limit
            if overflow:
                key.display = False
