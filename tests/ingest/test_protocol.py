"""The nats-py shortcuts: the stock-parser fallback still ingests; long lines wait like upstream."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NATSClient

from lakeconsole.ingest import protocol
from lakeconsole.ingest.protocol import FastClient, FastParser
from lakeconsole.service import Service
from tests.ingest.helpers import BASE_NS, encode, publish, read_tier, settings_for, trade, wait_for

pytestmark = pytest.mark.timeout(60)


async def test_missing_internals_fall_back_to_the_stock_parser_and_still_ingest(
    tmp_path: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A nats-py release without an internal we use: warn, use nats-py's parser, lose nothing."""
    monkeypatch.setattr(protocol, "REQUIRED_INTERNALS",
                        (*protocol.REQUIRED_INTERNALS, "_renamed_in_a_future_release"))
    caplog.set_level(logging.WARNING, logger="lakeconsole.ingest.protocol")
    events = [trade(i, BASE_NS + i) for i in range(300)]
    await publish(nats_url, [("market.stocks.trades", encode(e)) for e in events[:150]])
    await publish(nats_url, [("market.stocks.trades", encode(events[150:]))])  # one batch
    service = Service(settings_for(tmp_path / "lake", nats_url, **{"bronze.max_age_s": 0.2}))
    await service.start()
    try:
        assert type(service.bus.nc) is NATSClient  # the stock client, not FastClient
        await wait_for(lambda: read_tier(tmp_path / "lake", "bronze/stocks/trades").num_rows
                       == 300)
    finally:
        await service.stop()
    seqs = read_tier(tmp_path / "lake", "bronze/stocks/trades").column("seq").to_pylist()
    assert sorted(seqs) == list(range(300))
    assert "_renamed_in_a_future_release" in caplog.text and "stock parser" in caplog.text


def test_this_nats_py_has_every_internal_we_use() -> None:
    """Fails (loudly, in CI) when a nats-py upgrade moves an internal the fast path needs."""
    client = protocol.new_client()
    assert isinstance(client, FastClient)


class _Recorder:
    """The parser's view of a client: it only needs somewhere to deliver INFO."""

    def __init__(self) -> None:
        self.infos: list[dict[str, Any]] = []

    async def _process_info(self, info: dict[str, Any]) -> None:
        self.infos.append(info)


async def test_a_long_info_line_split_across_reads_is_parsed_like_upstream() -> None:
    """nats-py waits for the end of any control line; a 10 kB INFO must not be an error."""
    nc = _Recorder()
    parser = FastParser(nc)
    info = {"server_id": "x", "connect_urls": [f"10.0.0.{i}:4222" for i in range(600)]}
    line = b"INFO " + json.dumps(info).encode() + b"\r\n"
    assert len(line) > 8192
    await parser.parse(line[:5000])
    await parser.parse(line[5000:])
    assert nc.infos == [info]
