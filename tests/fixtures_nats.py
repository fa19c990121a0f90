"""Pytest plugin: a session-wide embedded nats-server and per-test clean JetStream state."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from lakeconsole.ingest.embedded import EmbeddedNATS


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNATS]:
    """One JetStream-enabled nats-server on a free 127.0.0.1 port for the whole session."""
    store: Path = tmp_path_factory.mktemp("nats-store")
    with EmbeddedNATS(store) as server:
        yield server


async def _delete_all_streams(url: str) -> None:
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
    finally:
        await nc.close()


def _run_isolated(coro_fn: object, *args: object) -> None:
    # A separate thread and loop: never disturbs pytest-asyncio's own event loops.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro_fn(*args)).result(timeout=30)  # type: ignore[operator]


@pytest.fixture
def nats_url(nats_server: EmbeddedNATS) -> str:
    """URL of the session server with every stream (and so every consumer) deleted first."""
    if not nats_server.running:  # a test stopped it: bring it back for the next ones
        nats_server.start()
    _run_isolated(_delete_all_streams, nats_server.url)
    return nats_server.url
