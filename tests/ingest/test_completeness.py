"""Small pure helpers of the ledger's NATS side: subject coverage, NATS timestamps."""

from __future__ import annotations

import logging

import pytest

from lakeconsole.ingest.completeness import covers, parse_ts_ns, reply_ts_ns


def test_filter_coverage_of_stream_subjects() -> None:
    assert covers("market.>", "market.>")
    assert covers("market.>", "market.stocks.trades")
    assert covers(">", "anything.at.all")
    assert covers("market.*.trades", "market.stocks.trades")
    assert not covers("market.*", "market.>")  # `>` can be deeper than one token
    assert not covers("market.>", "market")
    assert not covers("market.>", "other.>")
    assert not covers("market.stocks", "market.*")


def test_nats_timestamps() -> None:
    assert parse_ts_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_ts_ns("2026-01-01T00:00:00.000000001Z") == 1_767_225_600_000_000_001
    assert parse_ts_ns("1970-01-01T02:00:00+02:00") == 0
    assert parse_ts_ns("0001-01-01T00:00:00Z") is None  # an empty stream's first_ts
    assert parse_ts_ns("garbage") is None


def test_timestamps_from_ack_subjects() -> None:
    assert reply_ts_ns("$JS.ACK.MARKET.lake-bronze.1.42.40.1767225600000000001.7") == (
        1_767_225_600_000_000_001)
    assert reply_ts_ns("$JS.ACK.dom.hash.MARKET.c.1.42.40.99.7.tok") == 99
    assert reply_ts_ns("not.an.ack") is None


def test_headless_logs_a_loss_once(caplog: pytest.LogCaptureFixture) -> None:
    from lakeconsole import events as ev
    from lakeconsole.headless import log_event
    from lakeconsole.ingest.completeness import LOSS_WHERE

    caplog.set_level(logging.INFO, logger="lakeconsole")
    log_event(ev.UpstreamLoss("MARKET", 51, 150, 100, "discarded"))
    log_event(ev.ErrorRaised(LOSS_WHERE, "MARKET sequences 51..150 …"))  # its companion
    log_event(ev.ErrorRaised("ledger audit", "MARKET: boom"))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert lines == ["upstream loss: MARKET sequences 51..150 (100 messages) never reached "
                     "the lake: discarded", "ledger audit: MARKET: boom"]
    assert caplog.records[0].first_seq == 51  # type: ignore[attr-defined]  # JSON log field
