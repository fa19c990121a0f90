"""Backoff bounds, log formats, quarantine reason kinds, readiness, lag logging, and the
compaction metrics."""

from __future__ import annotations

import io
import json
import logging
import random

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lakeconsole import events as ev
from lakeconsole.config import load_settings, metrics_address
from lakeconsole.errors import ConfigError
from lakeconsole.ops.backoff import Backoff
from lakeconsole.ops.health import Health
from lakeconsole.ops.lag import LagLog
from lakeconsole.ops.logs import setup_logging
from lakeconsole.ops.metrics import LakeMetrics
from lakeconsole.ops.reasons import reason_kind
from lakeconsole.silver.result import CompactionResult


def test_backoff_doubles_its_ceiling_up_to_the_cap_with_jitter_inside() -> None:
    b = Backoff(0.5, 30.0, random.Random(7))
    ceilings, delays = [], []
    for _ in range(40):
        ceilings.append(b.ceiling())
        delays.append(b.next())
    assert ceilings[:8] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert all(0.5 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    late = delays[6:]
    assert max(late) <= 30.0 and max(late) - min(late) > 10  # jittered, not a fixed wait
    b.reset()
    assert b.next() == 0.5


def test_backoff_stays_bounded_after_very_many_attempts() -> None:
    b = Backoff(1.0, 5.0, attempts=10_000)
    assert 1.0 <= b.next() <= 5.0
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)


def log_lines(fmt: str, level: str) -> list[str]:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    setup_logging(fmt, level, out)
    try:
        logger = logging.getLogger("lakeconsole.test")
        logger.info("flushed %s rows=%d", "stocks.trades", 5,
                    extra={"dataset": "stocks.trades", "partition": "SPY", "rows": 5,
                           "bytes": 900, "ms": 1.5})
        logger.warning("careful")
    finally:  # give pytest its handlers and level back
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    return out.getvalue().splitlines()


def test_json_logs_are_one_object_a_line_with_the_extra_fields() -> None:
    lines = log_lines("json", "info")
    records = [json.loads(line) for line in lines]
    assert [r["level"] for r in records] == ["info", "warning"]
    flush = records[0]
    assert flush["msg"] == "flushed stocks.trades rows=5" and flush["logger"] == "lakeconsole.test"
    assert {k: flush[k] for k in ("dataset", "partition", "rows", "bytes", "ms")} == {
        "dataset": "stocks.trades", "partition": "SPY", "rows": 5, "bytes": 900, "ms": 1.5}


def test_text_logs_keep_the_usual_format_and_the_level_hides_info() -> None:
    assert " INFO    lakeconsole.test: flushed stocks.trades rows=5" in log_lines("text", "info")[0]
    assert [line.split()[2] for line in log_lines("text", "warning")] == ["WARNING"]
    with pytest.raises(ValueError):
        setup_logging("xml", "info")


@pytest.mark.parametrize(("reason", "kind"), [
    ("not valid JSON: JSONDecodeError: x", "not_json"),
    ("unknown subject 'market.weird'", "unknown_subject"),
    ("message of 5000 bytes exceeds nats.max_message_bytes=10", "too_large"),
    ("ts_event_ns outside the accepted range 1970-01-01 .. 2200-01-01", "event_time_out_of_range"),
    ("Expected `int`, got `str` - at `$.size`", "invalid"),
])
def test_quarantine_reasons_fold_into_kinds(reason: str, kind: str) -> None:
    assert reason_kind(reason) == kind


def test_metrics_address_and_its_validation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert metrics_address("", "127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert metrics_address("", "off") is None and metrics_address("off", "1.2.3.4:1") is None
    assert metrics_address("0.0.0.0:0", "") == ("0.0.0.0", 0)
    bad = tmp_path / "bad.toml"
    bad.write_text('[metrics]\naddr = "localhost"\n')
    with pytest.raises(ConfigError, match=r"bad.toml: key 'metrics.addr' expected HOST:PORT"):
        load_settings(bad, env={})
    bad.write_text("[metrics]\nready_flush_failing_s = 0\n")
    with pytest.raises(ConfigError, match=r"metrics\.ready_flush_failing_s"):
        load_settings(bad, env={})


def test_readiness_names_what_is_wrong() -> None:
    now = [100.0]
    h = Health(flush_failing_s=10.0, clock=lambda: now[0])
    assert h.problems() == ["service starting: storage or NATS not reached yet",
                            "NATS not connected"]
    h.mark_started()
    h.apply(ev.ConnectionState("connected", "nats://x"))
    assert h.problems() == []
    h.apply(ev.ErrorRaised("flush stocks.trades", "StorageError: disk full"))
    now[0] += 5
    h.apply(ev.ErrorRaised("flush stocks.trades", "StorageError: disk full"))
    assert h.problems() == []  # failing, but not for long yet
    now[0] += 6
    assert h.problems() == ["storage: flush stocks.trades failing for 11 s: "
                            "StorageError: disk full"]
    h.apply(ev.Flushed("stocks.trades", "bronze", "p", "SPY", 1, 1, 0.1, 1))
    h.apply(ev.ConnectionState("disconnected", "gone"))
    assert h.problems() == ["NATS not connected"]


def test_lag_is_logged_when_it_changes_not_every_poll(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    lag = LagLog(logging.getLogger("lakeconsole.lagtest"), interval_s=30, min_pending=100,
                 clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="lakeconsole.lagtest")
    for pending in (0, 5000, 4000, 3000, 2000):  # one poll every 2 s
        lag.apply(ev.ConsumerLag("lake-bronze", pending, 10, 0))
        now[0] += 2
    now[0] += 30
    lag.apply(ev.ConsumerLag("lake-bronze", 1500, 10, 0))
    lag.apply(ev.ConsumerLag("lake-bronze", 0, 0, 0))
    lag.apply(ev.ConsumerLag("lake-bronze", 0, 0, 0))
    assert caplog.messages == [
        "consumer lake-bronze lagging: 5000 pending, 10 ack pending, 0 redelivered",
        "consumer lake-bronze lagging: 1500 pending, 10 ack pending, 0 redelivered",
        "consumer lake-bronze caught up: 0 pending, 0 ack pending, 0 redelivered",
    ]


def test_compaction_metrics_count_runs_rows_and_keep_the_latest_feed_gaps() -> None:
    """Counters add up per dataset; the feed-gap gauge is the partition's latest figure."""
    metrics = LakeMetrics()

    def finished(gaps: int | None, dups: int) -> None:
        result = CompactionResult("k", "stocks.trades", "SPY", "2026-01-01", status="ok",
                                  rows_read=10, rows_written=10 - dups,
                                  duplicates_removed=dups, seconds=0.2, feed_gap_seqs=gaps)
        metrics.apply(ev.CompactionFinished("k", result))

    finished(3, 2)
    finished(0, 0)  # late Bronze filled the gap: the gauge follows, it does not add up
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(
                 generate_latest(metrics.registry).decode())
             for s in family.samples}
    trades = (("dataset", "stocks.trades"),)
    assert found[("lakeconsole_compaction_runs_total",
                  (("dataset", "stocks.trades"), ("status", "ok")))] == 2
    assert found[("lakeconsole_compaction_rows_read_total", trades)] == 20
    assert found[("lakeconsole_compaction_duplicates_removed_total", trades)] == 2
    assert found[("lakeconsole_feed_gap_seqs",
                  (("dataset", "stocks.trades"), ("partition", "SPY")))] == 0
