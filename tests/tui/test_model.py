"""The console's plain parts: model, formatting, themes, keymap (no app, no service)."""

from __future__ import annotations

from pathlib import Path

from lakeconsole import events as ev
from lakeconsole.silver.result import CompactionResult
from lakeconsole.tui.format import human_age, human_bytes, human_rate
from lakeconsole.tui.keys import ACTIONS, check_keymap
from lakeconsole.tui.model import ConsoleModel
from lakeconsole.tui.themes import load_themes, theme_dirs


def test_model_folds_events_into_counters() -> None:
    """Received → rates; Flushed → files/bytes/flushes; lag by consumer tier; errors drain."""
    m = ConsoleModel()
    m.sample(100.0)
    m.apply(ev.Received({"stocks.trades": 500, "levels.signals": 10}))
    m.apply(ev.BufferCounts({"stocks.trades": 42}))
    m.apply(ev.Flushed("stocks.trades", "bronze", "p1", "SPY", 300, 1000, 0.01, 2, 1,
                       at=101.0))
    m.apply(ev.Flushed("stocks.trades", "bronze", "p2", "QQQ", 200, 800, 0.01, 2, 1,
                       at=101.0))
    m.apply(ev.Quarantined("market.stocks.trades", 1, "bad", "q"))
    m.apply(ev.Quarantined("market.weird", 2, "unknown subject", "q"))
    m.apply(ev.ConsumerLag("lake-gold", 7, 0, 0))
    m.apply(ev.ErrorRaised("ack", "boom"))
    m.sample(102.0)
    rows = {r.name: r for r in m.rows()}
    trades = rows["stocks.trades"]
    assert (trades.received, trades.buffered, trades.rate) == (500, 42, 250.0)
    assert (trades.flushes, trades.files, trades.rows, trades.bytes) == (1, 2, 500, 1800)
    assert trades.quarantined == 1 and m.unknown_quarantined == 2
    # Lag is the consumer's (one per tier), never copied into each dataset's row.
    assert [(c.consumer, c.tier, c.pending) for c in m.consumer_rows()] == [
        ("lake-gold", "gold", 7)]
    assert m.total_rate() == 255.0
    assert [e.kind for e in m.drain_log()] == ["flush", "flush", "quarantine", "quarantine",
                                               "error"]
    assert m.drain_log() == []
    assert m.drain_errors() == ["ack: boom"] and m.drain_errors() == []


def test_compaction_progress() -> None:
    """Progress and results are kept until reset."""
    m = ConsoleModel()
    m.apply(ev.CompactionProgress(1, 3, "stocks.trades/SPY/2026-01-01"))
    result = CompactionResult("k", "stocks.trades", "SPY", "2026-01-01", status="ok",
                              rows_written=5, bytes_written=12_345)
    m.apply(ev.CompactionFinished("k", result))
    state = m.compaction_state()
    assert (state.done, state.total, state.results) == (1, 3, [result])
    m.reset_compaction()
    assert m.compaction_state().total == 0


def test_compaction_log_lines_show_the_bytes_written() -> None:
    """The flush log's compaction line carries rows and bytes (it read a missing key once)."""
    m = ConsoleModel()
    m.apply(ev.CompactionFinished("k", CompactionResult(
        "k", "stocks.trades", "SPY", "2026-01-01", status="ok", rows_written=7,
        bytes_written=4_096)))
    (entry,) = m.drain_log()
    assert (entry.kind, entry.rows, entry.bytes, entry.detail) == ("compaction", 7, 4_096, "ok")


def test_formatting() -> None:
    """Human-readable sizes, rates and ages."""
    assert human_bytes(1536) == "1.5 KB" and human_bytes(12) == "12 B"
    assert human_rate(123_456) == "123.5k/s" and human_rate(12) == "12/s"
    assert human_age(None) == "never" and human_age(75) == "1m 15s"


def test_themes_load_and_broken_files_warn(tmp_path: Path) -> None:
    """The shipped themes load; a broken file is a warning, not an exception."""
    themes, warnings = load_themes(theme_dirs())
    assert {"lake-dark", "lake-light"} <= {t.name for t in themes} and warnings == []
    (tmp_path / "bad.toml").write_text("primary = [oops")
    (tmp_path / "color.toml").write_text('primary = "not-a-colour"')
    (tmp_path / "extra.toml").write_text('primary = "#fff"\nsparkle = 1')
    (tmp_path / "ok.toml").write_text('primary = "#123456"')
    themes, warnings = load_themes([tmp_path])
    assert [t.name for t in themes] == ["ok"]
    assert len(warnings) == 3 and all(w.startswith("theme ") for w in warnings)


def test_keymap_ids() -> None:
    """Every action has a unique id; unknown override ids are reported."""
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))
    valid, warnings = check_keymap({"run_query": "f9", "fly": "f"})
    assert valid == {"run_query": "f9"} and warnings == ["unknown actions in console.keys: fly"]
