"""The Compact tab's automatic/queued compaction: the model, the queue line, a live console."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Label, RichLog

from lakeconsole import events as ev
from lakeconsole.service import Service
from lakeconsole.silver.result import CompactionResult
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.model import ConsoleModel
from lakeconsole.tui.widgets.compaction import CompactionPanel, format_queue
from tests.ingest.helpers import BASE_NS, encode, publish, trade
from tests.tui.helpers import console_settings, text_of, until

KEY = "stocks.trades/SPY/2026-01-01"


def result(status: str = "ok", error: str | None = None) -> CompactionResult:
    """A result of SPY's 2026-01-01."""
    return CompactionResult(KEY, "stocks.trades", "SPY", "2026-01-01", status,  # type: ignore[arg-type]
                            rows_written=30, error=error)


def test_background_results_are_kept_apart_from_the_run_the_tab_started() -> None:
    model = ConsoleModel()
    model.apply(ev.CompactionFinished(KEY, result(), source="auto"))
    model.apply(ev.CompactionFinished(KEY, result("failed", "boom"), source="worker vm:7"))
    model.apply(ev.CompactionFinished(KEY, result()))  # the tab's own run
    assert [(s, r.status) for s, r in model.drain_background()] == [
        ("auto", "ok"), ("worker vm:7", "failed")]
    assert model.drain_background() == []
    assert len(model.compaction_state().results) == 1
    queue = ev.CompactionQueue(2, 1, 40, 1, f"{KEY}: boom", "queue")
    model.apply(queue)
    assert model.queue == queue


def test_the_queue_line_says_counts_and_the_last_failure() -> None:
    assert format_queue(None, auto=False).plain == "compaction queue: off"
    assert "waiting for the first plan" in format_queue(None, auto=True).plain
    line = format_queue(ev.CompactionQueue(2, 1, 40, 1, f"{KEY}: boom", "queue"), auto=True)
    assert line.plain == (f"automatic compaction (queue): 2 queued, 1 running, 40 done, "
                          f"1 failed  last failure: {KEY}: boom")


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_auto_compaction_shows_in_the_compact_tab(tmp_path: Path, nats_url: str) -> None:
    settings = console_settings(tmp_path / "lake", nats_url,
                                **{"silver.auto": True, "silver.auto_delay_s": 1.0})
    app = LakeConsoleApp(Service(settings), export_dir=tmp_path / "exports")
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.model.connection == "connected")
        await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i * 1000)))
                                 for i in range(30)])
        await pilot.press("3")
        panel = app.query_one(CompactionPanel)

        def shown() -> str:
            return "\n".join(line.text for line in panel.query_one(RichLog).lines)

        await until(pilot, lambda: KEY in shown() and "[auto]" in shown(), timeout=60)
        # Bronze may arrive in more than one flush: each later one is late data, done again.
        await until(pilot, lambda: app.model.queue is not None and app.model.queue.done >= 1
                    and " done" in text_of(panel.query_one("#compact-queue", Label)),
                    timeout=20)
        line = text_of(panel.query_one("#compact-queue", Label))
        assert line.startswith("automatic compaction (local): 0 queued") and "0 failed" in line
        app.set_focus(None)
        await pilot.press("q")
        await until(pilot, lambda: app.return_code is not None)
