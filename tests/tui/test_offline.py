"""Console behaviour that needs no service: bursts of events, theme files, the palette."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import TabbedContent

from lakeconsole import events as ev
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.themes import theme_dirs
from lakeconsole.tui.widgets.flushlog import FlushLog
from lakeconsole.tui.widgets.query import QueryPanel
from tests.tui.helpers import until

SIZE = (160, 48)


async def test_a_burst_of_events_keeps_the_ui_responsive() -> None:
    """20k flush events (≈ 100k+ events/s for minutes) drain in batches; keys still work."""
    app = LakeConsoleApp(None)
    async with app.run_test(size=SIZE) as pilot:
        flushed = ev.Flushed("stocks.trades", "bronze", "p", "SPY", 1000, 40_000, 0.01, 3)
        for _ in range(20_000):
            app.model.apply(flushed)
        app.model.apply(ev.Received({"stocks.trades": 20_000_000}))
        await pilot.press("2")  # keys are still handled while the burst drains
        assert app.query_one(TabbedContent).active == "partitions"
        log = app.query_one(FlushLog)
        await until(pilot, lambda: len(log.lines) > 0)
        assert "older entries not shown" in log.lines[0].text
        assert next(r for r in app.model.rows() if r.name == "stocks.trades").files == 20_000


async def test_broken_theme_file_is_a_warning(tmp_path: Path) -> None:
    """A theme file that does not parse gives a warning; the good themes still load."""
    good = theme_dirs()[0] / "lake-light.toml"
    (tmp_path / "lake-light.toml").write_text(good.read_text())
    (tmp_path / "broken.toml").write_text("primary = ")
    app = LakeConsoleApp(None, theme_dirs=[tmp_path])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("broken.toml" in m for m in app.warnings)
        assert any("lake-dark" in m and "not found" in m for m in app.warnings)
        assert any("broken.toml" in str(n.message) for n in app._notifications)
        assert "lake-light" in app.available_themes


@pytest.mark.slow
async def test_palette_lists_console_actions_and_switches_theme() -> None:
    """ctrl+p finds console actions; the theme command switches to a shipped theme."""
    app = LakeConsoleApp(None)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "lake-dark"
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"partit")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.query_one(TabbedContent).active == "partitions")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"theme")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        await pilot.press(*"lake-li")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "lake-light")


async def test_palette_runs_a_panel_action_from_another_tab() -> None:
    """A query-tab action picked on the dashboard runs: the palette shows its tab first."""
    app = LakeConsoleApp(None)
    async with app.run_test(size=SIZE) as pilot:
        tabs, panel = app.query_one(TabbedContent), app.query_one(QueryPanel)
        assert (tabs.active, panel.mode) == ("dashboard", "reader")
        await pilot.press("ctrl+t")  # the key alone is refused off its tab
        assert (tabs.active, panel.mode) == ("dashboard", "reader")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"query mode")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: panel.mode == "sql")
        assert tabs.active == "query"
        assert not isinstance(app.screen, CommandPalette)
