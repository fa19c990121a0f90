"""Fixtures shared by the console tests."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot

from tests.tui.helpers import until

RunBefore = Callable[[Pilot[Any]], Awaitable[None] | None]


@pytest.fixture
def utc_plus_3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is a fixed UTC+3 without DST (POSIX TZ: the sign is inverted)."""
    monkeypatch.setenv("TZ", "XYZ-3")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def query_history_in_tmp(tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQL history goes to a temp XDG state folder, never the real home."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


def footer_fits(app: App[Any]) -> bool:
    """Whether the footer's trim has run: no key drawn over the palette key."""
    keys = list(app.screen.query("FooterKey"))
    palette = [k for k in keys if k.has_class("-command-palette")]
    limit = palette[0].region.x if palette else app.size.width
    return all(k.region.right <= limit for k in keys
               if k.display and not k.has_class("-command-palette"))


@pytest.fixture
def snap_compare(snap_compare: Callable[..., bool]) -> Callable[..., bool]:
    """pytest-textual-snapshot's, but the picture waits for the footer's trim.

    The footer trims after a refresh; on a loaded machine the first frame can come sooner.
    """

    def compare(app: App[Any], *, run_before: RunBefore | None = None, **kwargs: Any) -> bool:
        async def settled(pilot: Pilot[Any]) -> None:
            ran = run_before(pilot) if run_before is not None else None
            if inspect.isawaitable(ran):
                await ran
            await until(pilot, lambda: footer_fits(pilot.app))

        return snap_compare(app, run_before=settled, **kwargs)

    return compare
