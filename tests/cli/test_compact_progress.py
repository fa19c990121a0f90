"""The compact command's terminal progress bar."""

from __future__ import annotations

import io

from lakeconsole.commands.compact import ProgressBar


def test_progress_bar_redraws_one_line_and_ends_it() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    bar(0, 4, "")
    bar(2, 4, "stocks.trades/SPY/2026-01-01")
    assert out.getvalue().endswith("\r[#####.....] 2/4 stocks.trades/SPY/2026-01-01" + " " * 32)
    assert "\n" not in out.getvalue()
    bar(4, 4, "futures.trades/ESZ5/2026-01-01")
    assert "[##########] 4/4 futures.trades/ESZ5/2026-01-01" in out.getvalue()
    assert out.getvalue().endswith("\n")
