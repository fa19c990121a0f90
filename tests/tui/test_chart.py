"""The chart of a query result: `c` on the Query tab opens it; price and size over time."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from rich.text import Text
from textual.widgets import TabbedContent

from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.screens.chart import ChartScreen
from lakeconsole.tui.widgets.chart import ResultChart
from lakeconsole.tui.widgets.query import QueryPanel
from tests.tui.helpers import until
from tests.tui.test_chartdata import trades

SIZES = ((80, 24), (160, 48))


def plot_text(chart: ResultChart) -> str:
    """What the plot shows, as plain text."""
    rendered = chart.render()
    assert isinstance(rendered, Text)
    return rendered.plain


async def open_chart(app: LakeConsoleApp, pilot: Any, table: pa.Table) -> ResultChart:
    """Show `table` as the query result, press c, return the chart."""
    await pilot.press("4")
    await app.query_one(QueryPanel).show_result(table, 0.01, False)
    app.set_focus(None)
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, ChartScreen))
    chart = app.screen.query_one(ResultChart)
    await until(pilot, lambda: chart.size.width > 0)
    return chart


@pytest.mark.parametrize("size", SIZES, ids=["80x24", "160x48"])
async def test_c_charts_price_and_size_with_times_on_the_x_axis(size: tuple[int, int]) -> None:
    """Series price (left) and size (right), x labels are times; esc goes back to Query."""
    app = LakeConsoleApp(None)
    async with app.run_test(size=size) as pilot:
        chart = await open_chart(app, pilot, trades(20_000, step_ns=6_000_000))  # 120 s
        assert [(s.name, s.side) for s in chart.data.series] == [("price", "left"),
                                                                 ("size", "right")]
        assert chart.data.points <= 4 * size[0]  # thinned to the width, not 40k points
        text = plot_text(chart)
        assert "14:30:00" in text and "14:31:59" in text  # ticks as wall-clock times
        assert "price (left)" in text and "size (right)" in text  # the legend
        assert "ts_event_ns" in text
        caption = str(app.screen.query_one("#chart-caption").render())
        assert "20,000 rows" in caption and "UTC" in caption
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ChartScreen))
        assert app.query_one(TabbedContent).active == "query"


async def test_chart_without_a_result_or_a_time_column_warns() -> None:
    """No result yet, or nothing to plot over time: a warning, no chart screen."""
    app = LakeConsoleApp(None)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("4")
        app.set_focus(None)
        await pilot.press("c")
        await pilot.pause()
        assert any("run a query first" in str(n.message) for n in app._notifications)
        await app.query_one(QueryPanel).show_result(pa.table({"symbol": ["SPY"], "n": [3]}),
                                                    0.01, False)
        app.set_focus(None)
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, ChartScreen)
        assert any("no time column" in str(n.message) for n in app._notifications)
