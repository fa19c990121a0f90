"""Helpers for the console tests: settings, waiting on a Pilot, frozen models."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Label, Static

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.tui.model import ConsoleModel
from tests.ingest.helpers import settings_for

FROZEN_NOW = 1_767_229_200.0  # 2026-01-01T01:00:00Z


def console_settings(root: Path, nats_url: str, **overrides: Any) -> Settings:
    """Settings for a console on a temp lake; fast flushes unless overridden."""
    values = {"bronze.max_age_s": 0.3, "gold.max_age_s": 0.3, "console.refresh_hz": 10.0,
              **overrides}
    return settings_for(root, nats_url, **values)


async def until(pilot: Pilot[Any], check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Let the app run until `check()` holds, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not met in time")


def text_of(widget: Static | Label, width: int = 160) -> str:
    """What a Static or Label shows, as plain text."""
    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(content)
    return console.export_text()


def frozen_model() -> ConsoleModel:
    """A model filled with fixed events at fixed times (for snapshots)."""
    m = ConsoleModel()
    t = FROZEN_NOW - 6
    m.apply(ev.ConnectionState("connected", "nats://127.0.0.1:4222", at=t))
    m.sample(t)
    for i in range(12):  # the last sample is at FROZEN_NOW, so the UI tick adds nothing
        at = t + i * 0.5
        m.apply(ev.Received({"stocks.trades": 400 + 50 * i, "stocks.quotes": 900 + 30 * i,
                             "futures.mbp10": 200, "levels.signals": 5}, at=at))
        m.sample(at + 0.5)
    m.apply(ev.BufferCounts({"stocks.trades": 312, "stocks.quotes": 640, "levels.signals": 4}))
    for i, (ds, part, rows) in enumerate([("stocks.trades", "SPY", 1000),
                                          ("stocks.quotes", "QQQ", 1000),
                                          ("levels.signals", "SPY", 500)]):
        m.apply(ev.Flushed(ds, "gold" if ds.startswith("levels") else "bronze",
                           f"bronze/x/{part}/part-{i}.parquet", part, rows, 40_960 + i * 1024,
                           0.012 + i / 1000, 3, i + 1, at=t - 3 + i))
    m.apply(ev.Quarantined("market.stocks.trades", 1, "missing field 'price'", "q.parquet",
                           at=t))
    m.apply(ev.ConsumerLag("lake-bronze", 1200, 800, 0, at=t))
    m.apply(ev.ErrorRaised("flush stocks.quotes", "disk full; 3 messages will be redelivered",
                           at=t + 1))
    return m
