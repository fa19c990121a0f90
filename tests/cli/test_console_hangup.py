"""`lakeconsole --demo` in a terminal that closes: the service stops and takes its server along."""

from __future__ import annotations

import asyncio
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from tests.ingest.helpers import wait_for
from tests.ingest.processes import (
    alive,
    lock_record,
    parquet_files,
    servers_on,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


class Terminal:
    """The master side of a pseudo-terminal, drained by a thread as a terminal would."""

    def __init__(self, rows: int = 40, cols: int = 120) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.output = bytearray()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)

    def spawn(self, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        """Run `args` as the session leader with this terminal as its controlling terminal."""
        child = subprocess.Popen(
            args, stdin=self.slave, stdout=self.slave, stderr=self.slave, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=_take_controlling_terminal,
        )
        os.close(self.slave)  # only the child holds it: closing the master hangs it up
        self._reader.start()
        return child

    def _drain(self) -> None:
        # A terminal that stopped reading would block the app's writes: keep reading.
        while not self._stop.is_set():
            if select.select([self.master], [], [], 0.1)[0]:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.output += data

    def close(self) -> None:
        """Close the terminal window: the kernel sends SIGHUP to the session leader."""
        self._stop.set()
        self._reader.join()
        os.close(self.master)


def _take_controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


async def demo_console_running(tmp_path: Path) -> tuple[Terminal, subprocess.Popen[bytes], int]:
    """`lakeconsole --demo` in a pty, its dashboard drawn and its demo data in Bronze."""
    root, store = tmp_path / "lake", tmp_path / "nats"
    env = {**os.environ, "DATA_ROOT": str(root), "TERM": "xterm-256color"}
    env.pop("LAKECONSOLE_CONFIG", None)
    terminal = Terminal()
    child = terminal.spawn([sys.executable, "-m", "lakeconsole", "--demo"], env, tmp_path)
    try:
        await wait_for(lambda: b"Dashboard" in terminal.output, timeout=30)
        await wait_for(lambda: bool(lock_record(store).get("server")), timeout=30)
        await wait_for(lambda: len(parquet_files(root)) > 0, timeout=30)  # ingest runs
    except BaseException:
        child.kill()
        terminal.close()
        raise
    server = lock_record(store)["server"]
    assert child.poll() is None and alive(server)
    return terminal, child, server


async def test_closing_the_terminal_stops_the_demo_console(tmp_path: Path) -> None:
    """Close the pty of `lakeconsole --demo`: it flushes, acks, exits and stops nats-server."""
    terminal, child, server = await demo_console_running(tmp_path)
    try:
        terminal.close()
        assert await asyncio.to_thread(child.wait, 30) == 0
    finally:
        if child.poll() is None:
            child.kill()
    assert not alive(server) and servers_on(tmp_path / "nats") == []
    # Stopped by Service.stop (which clears the record), not by the kernel after a crash.
    assert lock_record(tmp_path / "nats") == {}


async def test_sigterm_stops_the_demo_console(tmp_path: Path) -> None:
    """SIGTERM to the console (its terminal still open): the same clean stop, exit 0."""
    terminal, child, server = await demo_console_running(tmp_path)
    try:
        child.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(child.wait, 30) == 0
    finally:
        if child.poll() is None:
            child.kill()
        terminal.close()
    assert not alive(server) and servers_on(tmp_path / "nats") == []
    assert lock_record(tmp_path / "nats") == {}


async def test_q_quits_the_demo_console_cleanly(tmp_path: Path) -> None:
    """`q`: the console's own flush and stop, then run_console's final stop does nothing."""
    terminal, child, server = await demo_console_running(tmp_path)
    try:
        os.write(terminal.master, b"q")
        assert await asyncio.to_thread(child.wait, 30) == 0
    finally:
        if child.poll() is None:
            child.kill()
        terminal.close()
    assert not alive(server) and servers_on(tmp_path / "nats") == []
    assert lock_record(tmp_path / "nats") == {}
