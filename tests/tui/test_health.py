"""The Health tab: coverage heat map of a real compacted lake, stream state from real events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import DiscardPolicy, StreamConfig
from textual.widgets import Input, Static

from lakeconsole import events as ev
from lakeconsole.service import Service
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.health_model import HealthModel
from lakeconsole.tui.model import ConsoleModel
from lakeconsole.tui.screens.hour_detail import HourDetailScreen
from lakeconsole.tui.widgets.health import HealthPanel, shift_day
from lakeconsole.tui.widgets.heatmap import HeatMap, truncate
from lakeconsole.tui.widgets.streams import streams_view
from tests.factories import DAY, DAY_NS, HOUR_NS, trade_table, write
from tests.ingest.helpers import encode, publish, trade
from tests.tui.helpers import FROZEN_NOW, console_settings, text_of, text_of_renderable, until

DAY_CLOCK = DAY_NS / 1e9 + 12 * 3600  # noon of DAY: the tab opens on DAY
MS = 1_000_000


def gap_lake(service: Service) -> None:
    """SPY with seqs 10-19 missing in hour 01, QQQ complete in 02-03, compacted; then
    AAPL (not compacted) and late SPY rows in hour 05 (stale)."""
    storage = service.storage
    write(storage, trade_table("SPY", [DAY_NS + HOUR_NS + i * MS for i in range(10)], 0))
    write(storage, trade_table("SPY", [DAY_NS + HOUR_NS + 1800 * 10**9 + i * MS
                                       for i in range(10)], 20))
    write(storage, trade_table("QQQ", [DAY_NS + 2 * HOUR_NS + i * HOUR_NS // 10
                                       for i in range(20)], 0))
    results = service.compact(DAY)
    assert [r.status for r in results] == ["ok", "ok"]
    write(storage, trade_table("AAPL", [DAY_NS + 4 * HOUR_NS + i * MS for i in range(5)], 0))
    write(storage, trade_table("SPY", [DAY_NS + 5 * HOUR_NS + i * MS for i in range(5)], 30))


def heatmap_text(app: LakeConsoleApp) -> list[str]:
    """Each row of the map as `label: glyphs`."""
    heatmap = app.query_one(HeatMap)
    out = []
    for index, name in enumerate(heatmap.rows_shown):
        glyphs = "".join(c.plain.strip() or " " for c in heatmap.get_row_at(index))
        out.append(f"{name}: {glyphs}")
    return out


# -- the model ---------------------------------------------------------------------------


def test_warning_needs_a_full_stream_and_a_lagging_consumer() -> None:
    """Over 80 % of max msgs with pending > 0 warns; under it, or not lagging, does not."""
    model = HealthModel({"lake-bronze": "bronze", "lake-gold": "gold"})
    model.apply(ev.StreamState("MARKET", 850, 4_000, 1, 850, max_msgs=1_000, max_bytes=10**9))
    model.apply(ev.ConsumerLag("lake-bronze", 0, 10, 0))
    assert model.snapshot().warnings() == []  # full but keeping up
    model.apply(ev.ConsumerLag("lake-bronze", 300, 10, 0))
    [warning] = model.snapshot().warnings()
    assert "MARKET is 85% full of max msgs" in warning and "300 pending" in warning
    model.apply(ev.StreamState("MARKET", 700, 4_000, 1, 700, max_msgs=1_000, max_bytes=10**9))
    assert model.snapshot().warnings() == []  # lagging, but 70 %
    model.apply(ev.StreamState("LEVELS", 95, 95, 1, 95, max_msgs=100))
    assert model.snapshot().warnings() == []  # LEVELS is gold's: lake-gold has not lagged


def test_losses_are_kept_and_drained_once() -> None:
    """Every loss stays for the panel; each is handed out once for a notification."""
    model = ConsoleModel()
    model.apply(ev.UpstreamLoss("MARKET", 101, 150, 50, "max_msgs discard"))
    assert [x.count for x in model.health.drain_losses()] == [50]
    assert model.health.drain_losses() == []
    assert len(model.health.snapshot().losses) == 1


def test_helpers() -> None:
    """Labels cut with an ellipsis; days shift across month ends."""
    assert truncate("stocks.trades/SPY", 10) == "stocks.tr…"
    assert truncate("a/b", 10) == "a/b"
    assert shift_day("2024-03-01", -1) == "2024-02-29"


# -- the tab on a real lake ----------------------------------------------------------------


async def test_heat_map_of_a_real_lake(tmp_path: Path, nats_url: str) -> None:
    """5 focuses the map; statuses come from the real computation; arrows move; enter on
    the gap hour shows its figures and the gap's seq range."""
    service = Service(console_settings(tmp_path / "lake", nats_url))
    gap_lake(service)
    app = LakeConsoleApp(service, clock=lambda: DAY_CLOCK)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("5")
        heatmap = app.query_one(HeatMap)
        await until(pilot, lambda: app.focused is heatmap and len(heatmap.rows_shown) == 3)
        assert app.query_one("#health-date", Input).value == DAY
        rows = heatmap_text(app)
        assert rows == ["stocks.trades/AAPL: ····n" + "·" * 19,
                        "stocks.trades/QQQ: ··✓✓" + "·" * 20,
                        "stocks.trades/SPY: ·g···s" + "·" * 18]
        await pilot.press("down", "down", "right")  # SPY, hour 01
        assert heatmap.cell_at_cursor() == ("stocks.trades/SPY", 1)
        assert "01:00 UTC  gaps" in str(heatmap.border_title)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, HourDetailScreen))
        text = text_of(app.screen.query_one("#detail-figures", Static))
        assert "gap ranges (seq)  10-19" in text
        assert "feed gaps         10" in text and "silver rows       20" in text
        assert "2024-01-02 01:30:00.009000000" in text  # last event
        await pilot.press("escape")
        await until(pilot, lambda: app.focused is heatmap)
        await pilot.press("left_square_bracket")  # the day before: nothing there
        await until(pilot, lambda: heatmap.rows_shown == [])
        assert app.query_one("#health-date", Input).value == shift_day(DAY, -1)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: len(heatmap.rows_shown) == 3)
        await app.action_quit()


async def test_typed_date_and_refresh(tmp_path: Path, nats_url: str) -> None:
    """A date typed in the field loads; `r` picks up Bronze written since."""
    service = Service(console_settings(tmp_path / "lake", nats_url))
    gap_lake(service)
    app = LakeConsoleApp(service, clock=lambda: FROZEN_NOW)  # opens on 2026-01-01: empty
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        heatmap = app.query_one(HeatMap)
        await until(pilot, lambda: app.query_one(HealthPanel).loaded_day == "2026-01-01")
        assert heatmap.rows_shown == []
        date = app.query_one("#health-date", Input)
        date.focus()
        date.value = DAY
        await pilot.press("enter")
        await until(pilot, lambda: len(heatmap.rows_shown) == 3 and app.focused is heatmap)
        assert heatmap.cell_width == 2  # 80 columns: narrow cells
        write(service.storage, trade_table("MSFT", [DAY_NS + i * MS for i in range(3)], 0))
        await pilot.press("r")
        await until(pilot, lambda: len(heatmap.rows_shown) == 4)
        await app.action_quit()


# -- the stream panel from a real service ----------------------------------------------------


async def make_small_market(url: str, max_msgs: int) -> None:
    """MARKET with a message limit, before the service starts (it keeps existing streams)."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(StreamConfig(
            name="MARKET", subjects=["market.>"], max_msgs=max_msgs,
            discard=DiscardPolicy.OLD))
    finally:
        await nc.close()


@pytest.mark.slow
async def test_stream_panel_warns_then_shows_the_loss(tmp_path: Path, nats_url: str) -> None:
    """A real service whose consumer holds one message at a time (max_ack_pending 1, long
    flush age): MARKET fills past 80 % of max_msgs while messages are pending → the warning;
    more messages push unread ones out → the service's UpstreamLoss in red."""
    await make_small_market(nats_url, 10)
    settings = console_settings(tmp_path / "lake", nats_url, **{
        "bronze.max_age_s": 60.0, "nats.max_ack_pending": 1})
    app = LakeConsoleApp(Service(settings), clock=lambda: DAY_CLOCK)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: app.model.connection == "connected")
        items = [("market.stocks.trades", encode(trade(i, DAY_NS + i * MS))) for i in range(9)]
        await publish(nats_url, items)
        streams = app.query_one("#health-streams", Static)
        await until(pilot, lambda: "is 90% full of max msgs" in text_of(streams), timeout=30)
        text = text_of(streams)
        assert "90% of 10" in text and "lake-bronze" in text
        assert "loss is coming" in text
        more = [("market.stocks.trades", encode(trade(i, DAY_NS + i * MS)))
                for i in range(9, 15)]
        await publish(nats_url, more)  # 15 into a 10-message stream: the oldest unread go
        await until(pilot, lambda: "upstream loss on MARKET" in text_of(streams), timeout=60)
        assert any("lost upstream" in str(n.message) for n in app._notifications)
        await app.action_quit()


def test_the_panel_renders_each_figure() -> None:
    """Streams: msgs, bytes, seqs, each limit's %; consumers: pending … ack floor."""
    model = ConsoleModel()
    model.apply(ev.StreamState("MARKET", 1_350, 9_000_000, 1, 1_350, max_msgs=1_500,
                               max_bytes=10 * 2**30, max_age_s=7 * 86400))
    model.apply(ev.ConsumerLag("lake-bronze", 1_200, 800, 3, ack_floor=150, delivered=950))
    text = _render(streams_view(model.health.snapshot(), {}))
    assert "MARKET" in text and "1,350" in text and "8.6 MB" in text and "1-1,350" in text
    assert "90% of 1.5k" in text or "90% of 1,500" in text
    assert "0% of 10.0 GB" in text and "7d" in text
    assert "1,200" in text and "800" in text and "150" in text
    assert "MARKET is 90% full of max msgs" in text


def _render(renderable: Any) -> str:
    return text_of_renderable(renderable, 160)
