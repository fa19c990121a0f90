"""The dataset table fits narrow terminals by priority, never by cutting a number."""

from __future__ import annotations

from lakeconsole import events as ev
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.model import ConsoleModel
from lakeconsole.tui.widgets.dashboard import (
    COLUMNS,
    DatasetTable,
    consumer_summary,
    fit_columns,
    row_cells,
    table_width,
)
from tests.tui.helpers import FROZEN_NOW, frozen_model, text_of


def big_model() -> ConsoleModel:
    """Counters large enough to need every digit column's full width."""
    m = frozen_model()
    m.apply(ev.Received({"stocks.trades": 109_876_543, "stocks.quotes": 2_345_678_901}))
    m.apply(ev.ConsumerLag("lake-bronze", 1_234_567, 0, 0))
    return m


def test_wide_terminal_shows_every_column_with_full_headers() -> None:
    """160 columns: all eleven columns, full header names."""
    cells = [row_cells(s, FROZEN_NOW) for s in big_model().rows()]
    shown = fit_columns(cells, 156)
    assert [h for _, h in shown] == [c.name for c in COLUMNS]


def test_narrow_terminal_shortens_headers_then_drops_by_rank() -> None:
    """76 cells (an 80-column terminal): short headers; tier goes, counts stay."""
    cells = [row_cells(s, FROZEN_NOW) for s in big_model().rows()]
    shown = fit_columns(cells, 76)
    headers = [h for _, h in shown]
    assert headers[:2] == ["dataset", "buf"] and "quar" in headers and "recv" in headers
    assert "tier" not in headers  # the highest drop rank goes first
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in shown]
    assert table_width(widths) <= 76


def test_a_tiny_width_still_keeps_the_dataset() -> None:
    """Nothing fits: the dataset column alone is left (cut by the terminal, not by us)."""
    cells = [row_cells(s, FROZEN_NOW) for s in big_model().rows()]
    assert fit_columns(cells, 5) == [(0, "dataset")]


async def test_numbers_are_whole_at_80_columns() -> None:
    """At 80x24 every received count shows in full; the consumer's lag is the subtitle."""
    app = LakeConsoleApp(None, model=big_model(), clock=lambda: FROZEN_NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        text = text_of(app.query_one(DatasetTable), width=76)
        received = [f"{r.received:,}" for r in app.model.rows()]
        assert "2,345,691,681" in received  # 2,345,678,901 plus the frozen events
        assert all(f" {count}" in text for count in received)
        assert "…" not in text
        header = text.splitlines()[0].split()
        assert header[-1] == "quar" and "lag" not in header
        assert str(app.query_one(DatasetTable).border_subtitle) == "lag: lake-bronze 1,234,567"


def test_each_consumer_shows_its_own_figures() -> None:
    """Pending, unacked and redelivered per consumer; zeros left out; none before a poll."""
    m = ConsoleModel()
    assert consumer_summary(m.consumer_rows()) == ""
    m.apply(ev.ConsumerLag("lake-gold", 7, 0, 0))
    m.apply(ev.ConsumerLag("lake-bronze", 1_234, 56, 3))
    assert consumer_summary(m.consumer_rows()) == (
        "lag: lake-bronze 1,234 (56 unacked, 3 redelivered) · lake-gold 7")
