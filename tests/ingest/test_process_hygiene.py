"""The embedded nats-server lives and dies with its lakeconsole, on every exit path."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nats
import pytest

from lakeconsole.errors import IngestError
from lakeconsole.ingest.embedded import EmbeddedNATS
from tests.ingest.helpers import BASE_NS, encode, publish, read_tier, trade, wait_for
from tests.ingest.processes import (
    URL_RE,
    ack_pending_after,
    alive,
    lakeconsole,
    lock_record,
    parquet_files,
    servers_on,
    wait_for_line,
    wait_gone,
)

STARTED = "Gold writer started"

# -- fast: the server process itself ------------------------------------------------------


def test_server_runs_in_its_own_session(tmp_path: Path) -> None:
    """Terminal signals go to a session's process groups: the server is in none of ours."""
    with EmbeddedNATS(tmp_path / "nats") as server:
        assert server.pid is not None
        assert os.getsid(server.pid) == server.pid != os.getsid(0)
        assert os.getpgid(server.pid) != os.getpgid(0)


def test_server_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """Linux's parent-death signal follows the forking thread; a pool thread may retire."""
    server = EmbeddedNATS(tmp_path / "nats")
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    try:
        pid = server.pid
        assert pid is not None
        asyncio.run(asyncio.sleep(0.5))  # a parent-death SIGTERM would have landed by now
        assert server.running and alive(pid)
    finally:
        server.stop()
    assert not alive(pid)


def test_a_second_start_on_a_live_store_is_refused(tmp_path: Path) -> None:
    """Two servers on one store would corrupt it: the second start names the owner."""
    store = tmp_path / "nats"
    with EmbeddedNATS(store) as first:
        second = EmbeddedNATS(store)
        with pytest.raises(IngestError, match=rf"in use by another lakeconsole \(pid {os.getpid()}"
                                              rf", server {first.url}\)"):
            second.start()
        assert not second.running
        assert first.running and servers_on(store) == [first.pid]
    assert lock_record(store) == {}  # released: the next start needs no cleanup
    with EmbeddedNATS(store) as again:
        assert lock_record(store)["server"] == again.pid


# -- slow: real lakeconsole children and signals ----------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_headless_demo_writes_bronze_and_banner_shows_the_url(tmp_path: Path) -> None:
    """`--headless --demo`: banner with the embedded URL, Bronze files within seconds."""
    root, log = tmp_path / "lake", tmp_path / "err.log"
    child = lakeconsole(root, log, "--headless", "--demo")
    try:
        text = await wait_for_line(log, STARTED, child)
        record = lock_record(tmp_path / "nats")
        assert f"NATS:    {record['url']}  (embedded, demo feed)" in text
        assert URL_RE.fullmatch(record["url"])
        await wait_for(lambda: len(parquet_files(root)) > 0, timeout=15)
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == 0
    assert "stopped cleanly" in log.read_text()
    assert servers_on(tmp_path / "nats") == []


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigterm_while_the_server_starts_leaves_no_server(tmp_path: Path) -> None:
    """A stop during start (the banner is out, the server maybe half up): still nothing left."""
    root, log = tmp_path / "lake", tmp_path / "err.log"
    child = lakeconsole(root, log, "--headless", "--demo")
    await wait_for_line(log, "LAKE SERVICE", child)
    child.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(child.wait, 30) == 0
    assert servers_on(tmp_path / "nats") == []
    assert lock_record(tmp_path / "nats") == {}


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_kill_9_of_headless_demo_takes_its_server_along(tmp_path: Path) -> None:
    """kill -9 leaves no cleanup to lakeconsole: the kernel's parent-death signal stops it."""
    root, log = tmp_path / "lake", tmp_path / "err.log"
    child = lakeconsole(root, log, "--headless", "--demo")
    await wait_for_line(log, STARTED, child)
    server = lock_record(tmp_path / "nats")["server"]
    assert servers_on(tmp_path / "nats") == [server]
    child.kill()
    child.wait(10)
    await wait_gone(server, timeout=5)
    assert servers_on(tmp_path / "nats") == []


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sighup_stops_headless_cleanly(tmp_path: Path) -> None:
    """SIGHUP (the terminal closed): flush, ack, exit 0, and the server is gone."""
    root, log = tmp_path / "lake", tmp_path / "err.log"
    child = lakeconsole(root, log, "--headless", "--demo")
    await wait_for_line(log, STARTED, child)
    server = lock_record(tmp_path / "nats")["server"]
    await asyncio.sleep(1.0)  # demo events in the buffers, not yet flushed (5 s age)
    child.send_signal(signal.SIGHUP)
    assert await asyncio.to_thread(child.wait, 30) == 0
    text = log.read_text()
    assert "SIGHUP received" in text and "stopped cleanly" in text
    assert "flushed stocks.trades" in text and parquet_files(root)
    assert not alive(server) and lock_record(tmp_path / "nats") == {}  # stopped, not killed


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigint_to_the_process_group_reaches_only_the_service(tmp_path: Path) -> None:
    """ctrl+c signals the whole foreground group: the server must not stop before the acks."""
    root, log = tmp_path / "lake", tmp_path / "err.log"
    config = tmp_path / "embedded.toml"  # events stay buffered, unacked, until the stop
    config.write_text("[nats]\nembedded = true\n\n[bronze]\nmax_age_s = 60.0\n")
    child = lakeconsole(root, log, "--headless", "--config", str(config), group=True)
    text = await wait_for_line(log, STARTED, child)
    match = URL_RE.search(text)
    assert match is not None, text
    n = 900  # below bronze.max_events: no flush before the signal
    await publish(match.group(), [("market.stocks.trades", encode(trade(i, BASE_NS + i)))
                                  for i in range(n)])
    assert await unacked(match.group()) == n
    os.killpg(child.pid, signal.SIGINT)  # what the terminal does on ctrl+c
    assert await asyncio.to_thread(child.wait, 30) == 0
    text = log.read_text()
    assert "acks unconfirmed" not in text and "stopped cleanly" in text
    assert set(read_tier(root, "bronze/stocks/trades").column("seq").to_pylist()) == set(range(n))
    assert servers_on(tmp_path / "nats") == []
    assert await ack_pending_after(tmp_path / "nats") == {"lake-bronze": 0, "lake-gold": 0}


async def unacked(url: str, durable: str = "lake-bronze", timeout: float = 20.0) -> int:
    """Wait until nothing is pending for `durable`; returns its delivered-but-unacked count."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while (info := await js.consumer_info("MARKET", durable)).num_pending:
            assert time.monotonic() < deadline, f"{info.num_pending} never delivered"
            await asyncio.sleep(0.1)
        return info.num_ack_pending
    finally:
        await nc.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_demo_after_a_kill_9_on_the_same_store_works(tmp_path: Path) -> None:
    """Second `--headless --demo` on the store of a killed one: one server, data flowing."""
    root, store = tmp_path / "lake", tmp_path / "nats"
    first = lakeconsole(root, tmp_path / "first.log", "--headless", "--demo")
    await wait_for_line(tmp_path / "first.log", STARTED, first)
    first.kill()
    first.wait(10)
    second = lakeconsole(root, tmp_path / "second.log", "--headless", "--demo")
    try:
        await wait_for_line(tmp_path / "second.log", STARTED, second)
        before = len(parquet_files(root))
        assert servers_on(store) == [lock_record(store)["server"]]
        assert lock_record(store)["owner"] == second.pid
        await wait_for(lambda: len(parquet_files(root)) > before, timeout=15)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert servers_on(store) == []


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_second_demo_while_the_first_runs_exits_1_and_leaves_it_alone(
    tmp_path: Path,
) -> None:
    """The store is taken: the second says by whom and exits 1; the first keeps going."""
    root, store = tmp_path / "lake", tmp_path / "nats"
    first = lakeconsole(root, tmp_path / "first.log", "--headless", "--demo")
    try:
        await wait_for_line(tmp_path / "first.log", STARTED, first)
        record = lock_record(store)
        second = lakeconsole(root, tmp_path / "second.log", "--headless", "--demo")
        assert await asyncio.to_thread(second.wait, 30) == 1
        err = (tmp_path / "second.log").read_text()
        assert f"in use by another lakeconsole (pid {first.pid}, server {record['url']})" in err
        assert first.poll() is None and servers_on(store) == [record["server"]]
        assert lock_record(store) == record
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0


ORPHAN_MAKER = """
import sys, time
from pathlib import Path
from lakeconsole.ingest.embedded import EmbeddedNATS
server = EmbeddedNATS(Path(sys.argv[1]), die_with_parent=False).start()
print(server.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_next_start_stops_a_server_whose_owner_died(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A server left running (no parent-death signal: another OS, an older version) is
    stopped by the next start on its store, which then runs the only server there."""
    store = tmp_path / "nats"
    maker = subprocess.Popen([sys.executable, "-c", ORPHAN_MAKER, str(store)],
                             stdout=subprocess.PIPE, text=True)
    assert maker.stdout is not None
    orphan = int(maker.stdout.readline())
    maker.kill()
    maker.wait(10)
    try:
        assert alive(orphan) and servers_on(store) == [orphan]  # a real orphan
        with EmbeddedNATS(store) as server:
            assert not alive(orphan)
            assert servers_on(store) == [server.pid]
        assert f"stopping nats-server pid {orphan}" in caplog.text
    finally:
        if alive(orphan):
            os.kill(orphan, signal.SIGKILL)
