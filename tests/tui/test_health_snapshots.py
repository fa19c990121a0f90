"""Snapshots of the Health tab at 80x24 and 160x48: a real compacted lake, fixed events.

The coverage comes from the real computation over a lake written in a temp folder (only
figures reach the screen, never paths); the stream events carry fixed times; UTC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from lakeconsole import events as ev
from lakeconsole.ledger.coverage import HourCoverage
from lakeconsole.service import Service
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.widgets.health import HealthPanel
from lakeconsole.tui.widgets.heatmap import HeatMap
from tests.factories import DAY
from tests.ingest.helpers import settings_for
from tests.tui.helpers import FROZEN_NOW, frozen_model
from tests.tui.test_health import DAY_CLOCK, gap_lake

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def real_coverage(root: Path) -> list[HourCoverage]:
    """The coverage of the gap lake (compacted for real; no NATS involved)."""
    service = Service(settings_for(root, "nats://127.0.0.1:9"))
    gap_lake(service)
    return service.coverage(DAY)


def health_app() -> LakeConsoleApp:
    """No service; the model holds a full, lagging MARKET and one upstream loss."""
    model = frozen_model()
    model.apply(ev.StreamState("MARKET", 9_200, 7_340_032, 801, 10_000, max_msgs=10_000,
                               max_bytes=1 << 30, max_age_s=86400.0, at=FROZEN_NOW))
    model.apply(ev.StreamState("LEVELS", 120, 96_000, 1, 120, max_age_s=86400.0,
                               at=FROZEN_NOW))
    model.apply(ev.ConsumerLag("lake-bronze", 1200, 800, 4, ack_floor=8_000, delivered=8_800,
                               at=FROZEN_NOW))
    model.apply(ev.UpstreamLoss("MARKET", 1, 800, 800, "max_msgs discard", at=FROZEN_NOW))
    return LakeConsoleApp(None, model=model, clock=lambda: DAY_CLOCK)


@pytest.mark.parametrize("size", SIZES)
def test_health(snap_compare: Any, size: tuple[int, int], tmp_path: Path) -> None:
    """The heat map (cursor on the gap hour), legend, stream panel with warning and loss."""
    cells = real_coverage(tmp_path / "lake")

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("5")
        pilot.app.query_one(HealthPanel).show_coverage(DAY, cells)
        await pilot.pause()
        await pilot.press("down", "down", "right")
        assert pilot.app.query_one(HeatMap).cell_at_cursor() == ("stocks.trades/SPY", 1)
        await pilot.pause(0.2)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert snap_compare(health_app(), terminal_size=size, run_before=run_before)


def test_hour_detail(snap_compare: Any, tmp_path: Path) -> None:
    """enter on the gap hour: its figures, the gap range, the stream's loss."""
    cells = real_coverage(tmp_path / "lake")

    async def run_before(pilot: Pilot[int]) -> None:
        await pilot.press("5")
        pilot.app.query_one(HealthPanel).show_coverage(DAY, cells)
        await pilot.pause()
        await pilot.pause(0.2)
        pilot.app.clear_notifications()  # the loss's toast: the detail shows the loss
        await pilot.press("down", "down", "right", "enter")
        await pilot.pause(0.2)

    assert snap_compare(health_app(), terminal_size=(80, 24), run_before=run_before)
