"""The compact command's terminal progress bar."""

from __future__ import annotations

import io

from lakeconsole.commands.compact import ProgressBar
from lakeconsole.silver.result import CompactionResult


def _done(key: str, rows: int) -> CompactionResult:
    dataset, value, date = key.split("/")
    return CompactionResult(key, dataset, value, date, status="ok", rows_read=rows)


def test_progress_bar_redraws_one_line_and_ends_it() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    bar(0, 4, None)
    bar(2, 4, _done("stocks.trades/SPY/2026-01-01", 1_500))
    line = "\r[#####.....] 2/4 1,500 rows stocks.trades/SPY/2026-01-01"
    assert out.getvalue().endswith(line + " " * 22)
    assert "\n" not in out.getvalue()
    bar(4, 4, _done("futures.trades/ESZ5/2026-01-01", 500))
    assert "[##########] 4/4 2,000 rows futures.trades/ESZ5/2026-01-01" in out.getvalue()
    assert out.getvalue().endswith("\n")
