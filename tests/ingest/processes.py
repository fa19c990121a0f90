"""Helpers for process-hygiene tests: lakeconsole children, their logs, nats-servers by store."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nats
import psutil

from lakeconsole.ingest.embedded import LOCK_NAME, EmbeddedNATS

URL_RE = re.compile(r"nats://127\.0\.0\.1:\d+")


def lakeconsole(root: Path, log: Path, *args: str, group: bool = False,
                nats_url: str = "nats://127.0.0.1:1") -> subprocess.Popen[bytes]:
    """`python -m lakeconsole ARGS` on lake `root`, stderr to `log` (`group`: own session)."""
    env = {**os.environ, "DATA_ROOT": str(root), "NATS_URL": nats_url, "PYTHONUNBUFFERED": "1"}
    env.pop("LAKECONSOLE_CONFIG", None)
    with log.open("wb") as err:  # a file, not a pipe: a chatty child never blocks on us
        return subprocess.Popen(
            [sys.executable, "-m", "lakeconsole", *args], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err, cwd=root.parent, start_new_session=group,
        )


async def wait_for_line(log: Path, text: str, child: subprocess.Popen[bytes],
                        timeout: float = 30.0) -> str:
    """Wait until `text` appears in the child's log; returns the log so far."""
    deadline = time.monotonic() + timeout
    while True:
        seen = log.read_text(errors="replace")
        if text in seen:
            return seen
        assert child.poll() is None, f"child exited ({child.returncode}) early:\n{seen}"
        assert time.monotonic() < deadline, f"{text!r} not logged in {timeout} s:\n{seen}"
        await asyncio.sleep(0.1)


def servers_on(store: Path) -> list[int]:
    """Pids of live (not zombie) nats-server processes whose store is `store`."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if proc.info["status"] == psutil.STATUS_ZOMBIE or not cmd:
            continue
        if Path(cmd[0]).name == "nats-server" and str(store) in cmd:
            found.append(proc.pid)
    return found


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def wait_gone(pid: int, timeout: float = 5.0) -> None:
    """Fail unless `pid` stops running within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still running after {timeout} s"
        await asyncio.sleep(0.05)


def lock_record(store: Path) -> dict[str, Any]:
    """The store's lock file as written by the owning lakeconsole."""
    try:
        data: dict[str, Any] = json.loads((store / LOCK_NAME).read_text() or "{}")
    except FileNotFoundError:
        return {}
    return data


async def ack_pending_after(store: Path) -> dict[str, int]:
    """Unacked deliveries per durable consumer, read back by a fresh server on `store`."""
    with EmbeddedNATS(store) as server:
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            return {name: (await js.consumer_info(stream, name)).num_ack_pending
                    for stream, name in (("MARKET", "lake-bronze"), ("LEVELS", "lake-gold"))}
        finally:
            await nc.close()


def parquet_files(root: Path, tier: str = "bronze") -> list[Path]:
    """Visible Parquet files of a tier."""
    return [p for p in (root / tier).rglob("*.parquet") if not p.name.startswith((".", "_"))]
