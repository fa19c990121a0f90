"""`lakeconsole --headless --processes N`: children share the consumers, restart, stop cleanly."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import cast

import msgspec
import nats
import pytest

from lakeconsole.children import child_metrics, label_child_logs
from lakeconsole.cli import main
from lakeconsole.config import load_settings
from lakeconsole.contract.schemas import DATASETS
from lakeconsole.demo.feed import DemoFeed
from lakeconsole.ops.logs import setup_logging
from tests.ingest.helpers import BASE_NS, encode, publish, read_tier, trade, wait_for
from tests.ingest.processes import alive, lakeconsole, servers_on, wait_for_line

PIDS_RE = re.compile(r"processes \(pids (\d+), (\d+)\)")
Published = dict[tuple[str, str], list[int]]


def config(tmp_path: Path, *lines: str) -> str:
    """A config whose short ack_wait redelivers a killed child's messages quickly."""
    path = tmp_path / "processes.toml"
    path.write_text("\n".join(["[nats]", "ack_wait_s = 3.0", *lines]) + "\n")
    return str(path)


def demo_backlog(n: int) -> tuple[list[tuple[str, bytes]], Published]:
    """`n` demo messages across every dataset, and their seqs per (dataset path, partition)."""
    messages = DemoFeed(seed=11).take(n)
    by_subject = {d.subject: d for d in DATASETS}
    published: Published = defaultdict(list)
    for subject, payload in messages:
        ds = by_subject[subject]
        if ds.tier == "bronze":
            event = msgspec.json.decode(payload)
            published[(ds.path, str(event[ds.partition_key]))].append(event["seq"])
    return messages, published


def silver_seqs(root: Path, published: Published) -> Published:
    """Silver's seqs of each (dataset path, partition) that was published."""
    found: Published = {}
    for path, value in published:
        key = next(d.partition_key for d in DATASETS if d.path == path)
        table = read_tier(root, f"silver/{path}/{key}={value}")
        seqs = cast(list[int], table.column("seq").to_pylist()) if table.num_rows else []
        found[(path, value)] = sorted(seqs)
    return found


def bronze_rows(root: Path) -> int:
    """Rows in every visible Bronze file."""
    table = read_tier(root, "bronze")
    return table.num_rows


async def consumers(url: str) -> dict[str, tuple[int, int]]:
    """(num_pending, num_ack_pending) of the two durable writer consumers."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        found = {}
        for stream, durable in (("MARKET", "lake-bronze"), ("LEVELS", "lake-gold")):
            info = await js.consumer_info(stream, durable)
            found[durable] = (info.num_pending or 0, info.num_ack_pending or 0)
        return found
    finally:
        await nc.close()


async def wait_drained(url: str, timeout: float = 120.0) -> None:
    """Until both consumers have nothing pending and nothing unacked."""
    deadline = asyncio.get_running_loop().time() + timeout
    while set((await consumers(url)).values()) != {(0, 0)}:
        assert asyncio.get_running_loop().time() < deadline, await consumers(url)
        await asyncio.sleep(0.3)


async def both_started(log: Path, parent: subprocess.Popen[bytes]) -> tuple[int, int]:
    """Wait for the banner and both children's writers; their pids."""
    text = await wait_for_line(log, "LAKE SERVICE", parent, timeout=60)
    for index in (0, 1):
        text = await wait_for_line(log, f"[p{index}] lakeconsole: Gold writer started", parent,
                                   timeout=90)
    found = PIDS_RE.search(text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def stop(parent: subprocess.Popen[bytes], timeout: float = 90) -> int:
    """SIGTERM the parent; its exit code (kill it if it hangs, so no test leaks processes)."""
    if parent.poll() is None:
        parent.send_signal(signal.SIGTERM)
    try:
        return parent.wait(timeout)
    except subprocess.TimeoutExpired:
        parent.kill()
        parent.wait()
        raise


def free_port_pair() -> int:
    """A port p such that p and p + 1 were both free a moment ago."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    raise AssertionError("no two adjacent free ports")


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_kill_9_of_one_child_silver_exact(tmp_path: Path, nats_url: str) -> None:
    """2 processes drain a backlog; one is killed -9 and restarted; Silver holds each once."""
    root = tmp_path / "lake"
    messages, published = demo_backlog(6000)
    await publish(nats_url, messages)
    # A small shared ack window paces the drain (~0.5 s flushes), so the kill lands mid-way.
    cfg = config(tmp_path, "max_ack_pending = 200", "", "[bronze]", "max_age_s = 0.5")
    log = tmp_path / "parent.log"
    parent = lakeconsole(root, log, "--config", cfg, "--headless", "--processes", "2",
                         "--metrics-addr", "off", nats_url=nats_url)
    try:
        victim, _ = await both_started(log, parent)
        await wait_for(lambda: bronze_rows(root) >= 300, timeout=60)
        subprocess.run(["kill", "-9", str(victim)], check=True)
        assert bronze_rows(root) < 6000, "the kill must land mid-drain"
        await wait_for_line(log, "ingest process 0 restarted", parent, timeout=60)
        await wait_drained(nats_url)
    finally:
        code = stop(parent)
    text = log.read_text()
    assert code == 0, text
    assert "signal SIGKILL; restarting" in text
    compact = subprocess.run(
        [sys.executable, "-m", "lakeconsole", "--data-root", str(root), "compact", "--all-dates"],
        capture_output=True, text=True, timeout=180, check=False)
    assert compact.returncode == 0, compact.stderr
    expected = {key: sorted(seqs) for key, seqs in published.items()}
    assert len(expected) >= 6  # every Bronze dataset, both stock symbols
    assert silver_seqs(root, published) == expected


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_sigterm_stops_every_child_cleanly(tmp_path: Path, nats_url: str) -> None:
    """SIGTERM: one banner, each child flushes and acks, per-process metrics, exit 0."""
    root = tmp_path / "lake"
    port = free_port_pair()
    log = tmp_path / "parent.log"
    parent = lakeconsole(root, log, "--config", config(tmp_path), "--headless",
                         "--processes", "2", "--metrics-addr", f"127.0.0.1:{port}",
                         nats_url=nats_url)
    try:
        pids = await both_started(log, parent)
        await publish(nats_url, [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                                 for i in range(500)])
        for each in (port, port + 1):  # child I serves on port + I
            with urllib.request.urlopen(f"http://127.0.0.1:{each}/metrics", timeout=10) as r:
                assert r.status == 200 and b"lake" in r.read()
        await asyncio.sleep(1.0)  # the events arrive and wait in 5 s buffers
    finally:
        code = stop(parent)
    text = log.read_text()
    assert code == 0, text
    assert text.count("LAKE SERVICE") == 1
    assert f"127.0.0.1:{port}..{port + 1}" in text
    for index in (0, 1):
        assert f"[p{index}] lakeconsole: stopped cleanly" in text
    assert not any(alive(pid) for pid in pids)
    assert await consumers(nats_url) == {"lake-bronze": (0, 0), "lake-gold": (0, 0)}
    seqs = cast(list[int], read_tier(root, "bronze/stocks/trades").column("seq").to_pylist())
    assert sorted(seqs) == list(range(500))


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_processes_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--headless", "--processes", value])
    assert exit_.value.code == 2
    assert "argument --processes:" in capsys.readouterr().err


def test_processes_needs_headless(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-root", str(tmp_path), "--processes", "2"]) == 2
    assert "--processes needs --headless" in capsys.readouterr().err


def test_child_metrics_port_is_shifted_by_index() -> None:
    default = load_settings(env={})
    assert child_metrics(default, "127.0.0.1:9464", 1)[1] == "127.0.0.1:9465"
    given = load_settings(env={}, overrides={"metrics.addr": "127.0.0.1:7000"})
    assert child_metrics(given, "127.0.0.1:9464", 2)[0].metrics.addr == "127.0.0.1:7002"
    off = load_settings(env={}, overrides={"metrics.addr": "off"})
    assert child_metrics(off, "127.0.0.1:9464", 1) == (off, "127.0.0.1:9464")


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_demo_parent_owns_the_one_server_and_feed(tmp_path: Path) -> None:
    """`--demo --processes 2`: one embedded server and feed (the parent's); children ingest."""
    root = tmp_path / "lake"
    store = tmp_path / "nats"  # the embedded store sits beside the lake root
    log = tmp_path / "parent.log"
    parent = lakeconsole(root, log, "--headless", "--demo", "--processes", "2",
                         "--metrics-addr", "off")
    try:
        await both_started(log, parent)
        assert len(servers_on(store)) == 1
        await wait_for(lambda: bronze_rows(root) > 0, timeout=60)
    finally:
        code = stop(parent)
    text = log.read_text()
    assert code == 0, text
    assert "(embedded, demo feed)" in text and text.count("demo feed publishing") == 1
    assert "ingest process 1 (pid" in text and "nats-server ready" in text
    assert servers_on(store) == []


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_child_configuration_error_stops_all_with_2(tmp_path: Path, nats_url: str) -> None:
    """A child that cannot start for its configuration is not restarted in a loop: exit 2."""
    port = free_port_pair()
    with socket.socket() as taken:  # child 1's metrics port
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        log = tmp_path / "parent.log"
        parent = lakeconsole(tmp_path / "lake", log, "--headless", "--processes", "2",
                             "--metrics-addr", f"127.0.0.1:{port}", nats_url=nats_url)
        try:
            code = await asyncio.to_thread(parent.wait, 120)
        finally:
            stop(parent)
    text = log.read_text()
    assert code == 2, text
    assert "ingest process 1" in text and "configuration error; stopping all" in text
    assert "restarted" not in text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_child_log_lines_carry_the_process_index(fmt: str) -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    setup_logging(fmt, "info", out)
    try:
        label_child_logs(3, fmt)
        logging.getLogger("lakeconsole.test").info("stopped cleanly")
    finally:  # give pytest its handlers and level back
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    line = out.getvalue().strip()
    if fmt == "json":
        assert json.loads(line)["proc"] == 3
    else:
        assert line.endswith("INFO    [p3] lakeconsole.test: stopped cleanly")
