"""Helpers for the console tests: settings, waiting on a Pilot, frozen models."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Label, Static
from textual.widgets.tree import TreeNode

from lakeconsole import events as ev
from lakeconsole.config import Settings
from lakeconsole.query.catalog import CatalogNode
from lakeconsole.tui.model import ConsoleModel
from lakeconsole.tui.widgets.partitions import PartitionTree
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
    return text_of_renderable(content, width)


def text_of_renderable(renderable: Any, width: int = 160) -> str:
    """A rich renderable (a Table, a Text) printed as plain text."""
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
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


def catalog_node(path: str, kind: str, files: int, size: int, rows: int | None = None,
                 **kw: Any) -> CatalogNode:
    """A CatalogNode named after the last part of its path."""
    return CatalogNode(path.rsplit("/", 1)[-1], path, kind, files, size, rows,
                       tier=path.split("/")[0], **kw)


TREE_BASE = "bronze/stocks/trades/symbol=SPY/date=2026-01-01"


def fill_tree(tree: PartitionTree) -> TreeNode[CatalogNode | None]:
    """Fixed nodes down to the files of one hour, every level open; returns the hour node."""
    node = catalog_node
    levels = [
        ("", [node("bronze", "tier", 3, 90_000), node("silver", "tier", 1, 40_000),
              node("quarantine", "tier", 1, 1_200)]),
        ("bronze", [node("bronze/stocks", "asset", 3, 90_000)]),
        ("bronze/stocks", [node("bronze/stocks/trades", "dataset", 3, 90_000,
                                dataset="stocks.trades")]),
        ("bronze/stocks/trades", [
            node("bronze/stocks/trades/symbol=QQQ", "value", 1, 30_000, value="QQQ",
                 dataset="stocks.trades"),
            node("bronze/stocks/trades/symbol=SPY", "value", 2, 60_000, value="SPY",
                 dataset="stocks.trades")]),
        ("bronze/stocks/trades/symbol=SPY", [node(TREE_BASE, "date", 2, 60_000,
                                                  date="2026-01-01", dataset="stocks.trades",
                                                  value="SPY")]),
        (TREE_BASE, [node(f"{TREE_BASE}/hour=00", "hour", 2, 60_000, 2000, hour=0,
                          date="2026-01-01", dataset="stocks.trades", value="SPY")]),
        (f"{TREE_BASE}/hour=00", [
            node(f"{TREE_BASE}/hour=00/part-000001_000001_a.parquet", "file", 1, 30_000, 1000),
            node(f"{TREE_BASE}/hour=00/part-000002_000001_a.parquet", "file", 1, 30_000, 1000)]),
    ]
    current = tree.root
    for path, children in levels:
        if path:
            current = next(c for c in current.children if c.data and c.data.path == path)
        tree._fill(current, path, children)
        current.expand()
    return current
