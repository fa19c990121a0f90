"""The dashboard's per-dataset rate sparklines, each with its scale, and the time axis."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from lakeconsole.contract.schemas import DATASETS
from lakeconsole.tui.app import LakeConsoleApp
from tests.tui.helpers import FROZEN_NOW, frozen_model, text_of, until


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_a_sparkline_per_dataset_with_its_scale(size: tuple[int, int]) -> None:
    """Every dataset has its line and its max; the axis shows when there is room (48 rows)."""
    app = LakeConsoleApp(None, model=frozen_model(), clock=lambda: FROZEN_NOW)
    async with app.run_test(size=size) as pilot:
        sparks = app.query_one("#rate-sparks", Static)
        tall = size[1] >= 40  # below 40 rows: two to a line, no axis row
        await until(pilot, lambda: "stocks.trades" in text_of(sparks, size[0])
                    and ("-60s" in text_of(sparks, size[0])) == tall)
        text = text_of(sparks, size[0])
        for dataset in DATASETS:
            assert dataset.name in text
        # Frozen rates: stocks.trades rose to 1,750/s, stocks.quotes to 2,370/s.
        line = next(x for x in text.splitlines() if "stocks.trades" in x)
        assert "max 1,750/s" in line and "█" in line
        assert "max 2,370/s" in text and "max 0/s" in text  # options.trades: nothing
        if tall:
            assert text.rstrip().endswith("now") and len(text.strip().splitlines()) == 8
        else:
            assert len(text.strip().splitlines()) == 4  # 7 datasets, two to a line
        label = str(app.query_one("#rate-label").render())
        assert "last 60 s, own scale" in label
