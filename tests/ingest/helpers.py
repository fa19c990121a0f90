"""Helpers shared by the ingest tests: settings, stream reset, publishing, reading back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import nats
import pyarrow as pa
import pyarrow.dataset as pads

from lakeconsole.config import Settings, load_settings

BASE_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


def settings_for(root: str | Path, nats_url: str, **overrides: Any) -> Settings:
    """Settings pointing at a temp lake and the test NATS server."""
    values = {"storage.root": str(root), "nats.url": nats_url, **overrides}
    return load_settings(env={}, overrides=values)


def trade(seq: int, ts_ns: int, symbol: str = "SPY", **extra: Any) -> dict[str, Any]:
    """One stock trade event."""
    return {"ts_event_ns": ts_ns, "symbol": symbol, "price": 600.0 + seq / 100,
            "size": 100 + seq % 7, "exchange": 4, "seq": seq, **extra}


async def publish(url: str, items: list[tuple[str, bytes]]) -> None:
    """Publish to JetStream and wait for every PubAck (streams must exist or are created)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    for name, subjects in (("MARKET", ["market.>"]), ("LEVELS", ["levels.>"])):
        try:
            await js.stream_info(name)
        except nats.js.errors.NotFoundError:
            # A service starting meanwhile may create it first (with its own limits).
            with contextlib.suppress(nats.js.errors.BadRequestError):
                await js.add_stream(name=name, subjects=subjects)
    window: list[Any] = []
    for subject, payload in items:
        window.append(js.publish(subject, payload))
        if len(window) >= 500:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)
    await nc.close()


def encode(obj: Any) -> bytes:
    """JSON bytes."""
    return msgspec.json.encode(obj)


def read_tier(root: Path, tier_path: str) -> pa.Table:
    """Every visible Parquet row under a directory of the lake."""
    base = root / tier_path
    files = sorted(p for p in base.rglob("*.parquet") if not p.name.startswith((".", "_")))
    if not files:
        return pa.table({})
    return pads.dataset([str(f) for f in files], format="parquet").to_table()


async def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until `check()` is true or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")
