"""Fault injection for tests: a loopback TCP proxy that can refuse or black-hole, and a tiny tmpfs.

`TcpProxy` sits between a client (boto3, s3fs) and a server (moto) and is switched at run time:

- ``forward``: bytes flow both ways, as without the proxy.
- ``refuse``: the port stops listening, so a new connection is refused (ECONNREFUSED), and
  every open connection is reset (RST): pooled keep-alive connections fail on their next use.
- ``blackhole``: connections are accepted but nothing is forwarded or answered either way, so
  requests hang until the client's own timeout. Connections that were black-holed are reset
  when the mode changes again, because the bytes dropped meanwhile left their streams broken.

The port stays the same through every mode. Refusing relies on Linux: `shutdown()` on a
listening socket stops it listening but keeps the port bound, and `listen()` resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

Mode = Literal["forward", "refuse", "blackhole"]
MODES: tuple[Mode, ...] = ("forward", "refuse", "blackhole")
LOOPBACK = "127.0.0.1"
CHUNK = 64 * 1024
CALL_TIMEOUT_S = 10.0
T = TypeVar("T")


@dataclass(eq=False)
class _Link:
    """One client connection and, when forwarding, its connection to the target."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    silenced: bool = False  # black-holed: bytes are read and dropped, never passed on
    task: asyncio.Task[None] | None = field(default=None, repr=False)


def _reset(writer: asyncio.StreamWriter | None) -> None:
    """Close a connection with an RST rather than a FIN, as a dead server's host would."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # already gone: nothing left to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _bind_listener() -> socket.socket:
    """A non-blocking socket listening on a free loopback port, bound to it explicitly."""
    # An explicit port (not 0) keeps the port bound across shutdown()/listen(); a port the
    # kernel picked is released when the socket stops listening.
    for _ in range(20):
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((LOOPBACK, port))
        except OSError:  # someone took the port in between: pick another
            listener.close()
            continue
        listener.listen(socket.SOMAXCONN)
        listener.setblocking(False)
        return listener
    raise OSError("no free loopback port for the proxy")


class TcpProxy:
    """A loopback TCP proxy to `target_host:target_port`, switchable between fault modes."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = _bind_listener()
        self.port = int(self._listener.getsockname()[1])
        self._mode: Mode = "forward"
        self._links: set[_Link] = set()
        self._accepting: asyncio.Task[None] | None = None
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"tcp-proxy-{self.port}")
        self._thread.start()
        self._call(self._start_accepting())

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        """A proxy to the host and port of an http(s) URL, e.g. a moto server's."""
        parts = urlsplit(url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"URL needs a host and a port: {url!r}")
        return cls(parts.hostname, parts.port)

    @property
    def host(self) -> str:
        """The proxy's address (always loopback)."""
        return LOOPBACK

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`: the endpoint a client should use instead of the target."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def mode(self) -> Mode:
        """The current mode."""
        return self._mode

    @property
    def open_connections(self) -> int:
        """Client connections currently open through the proxy."""
        return self._call(self._count())

    def set_mode(self, mode: Mode) -> None:
        """Switch mode; returns once new and open connections see it."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if self._closed:
            raise RuntimeError("the proxy is closed")
        self._call(self._switch(mode))

    def forward(self) -> None:
        """Pass bytes through again (connections black-holed before are reset)."""
        self.set_mode("forward")

    def refuse(self) -> None:
        """Refuse new connections and reset the open ones."""
        self.set_mode("refuse")

    def blackhole(self) -> None:
        """Accept connections but forward and answer nothing: clients hang."""
        self.set_mode("blackhole")

    def close(self) -> None:
        """Reset every connection, release the port and stop the proxy's thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_TIMEOUT_S)
        self._loop.close()
        self._listener.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- on the proxy's event loop ----------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the proxy's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_TIMEOUT_S)

    async def _count(self) -> int:
        return len(self._links)

    async def _start_accepting(self) -> None:
        self._accepting = asyncio.create_task(self._accept_loop())

    async def _accept_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(self._listener)
            reader, writer = await asyncio.open_connection(sock=conn)
            link = _Link(writer, silenced=self._mode == "blackhole")
            self._links.add(link)
            link.task = asyncio.create_task(self._serve(link, reader))

    async def _stop_accepting(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None

    async def _switch(self, mode: Mode) -> None:
        old, self._mode = self._mode, mode
        if old == mode:
            return
        if mode == "refuse":
            await self._stop_accepting()
            # Stops listening but keeps the port: a SYN now gets an RST (connection refused),
            # and connections still in the accept backlog are reset.
            self._listener.shutdown(socket.SHUT_RD)
            self._reset_links(lambda link: True)
            return
        if old == "refuse":
            self._listener.listen(socket.SOMAXCONN)
            await self._start_accepting()
        if old == "blackhole":
            self._reset_links(lambda link: link.silenced)
        if mode == "blackhole":
            for link in self._links:
                link.silenced = True

    def _reset_links(self, which: Callable[[_Link], bool]) -> None:
        for link in [lk for lk in self._links if which(lk)]:
            self._drop(link)

    def _drop(self, link: _Link) -> None:
        """Reset both sides of a link and forget it."""
        self._links.discard(link)
        _reset(link.client)
        _reset(link.upstream)
        if link.task is not None and link.task is not asyncio.current_task():
            link.task.cancel()

    async def _serve(self, link: _Link, client: asyncio.StreamReader) -> None:
        """Relay one connection until either side closes (or drop it while black-holed)."""
        try:
            if link.silenced:
                await self._pipe(link, client, None)
                return
            try:
                upstream, upstream_writer = await asyncio.open_connection(*self.target)
            except OSError:  # the target itself is down: the client sees a reset
                return
            link.upstream = upstream_writer
            await asyncio.gather(self._pipe(link, client, link.upstream),
                                 self._pipe(link, upstream, link.client))
        except (OSError, asyncio.IncompleteReadError):
            pass  # a reset on either side ends the link, as it would without the proxy
        finally:
            self._drop(link)

    async def _pipe(self, link: _Link, src: asyncio.StreamReader,
                    dst: asyncio.StreamWriter | None) -> None:
        """Copy src to dst until EOF; drop the bytes while the link is silenced."""
        while data := await src.read(CHUNK):
            if link.silenced or dst is None:
                continue
            dst.write(data)
            await dst.drain()
        if dst is not None and not dst.transport.is_closing():
            dst.close()  # one side finished: finish the other, as a plain TCP hop would

    async def _shutdown(self) -> None:
        await self._stop_accepting()
        for link in list(self._links):
            self._drop(link)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class TmpfsError(RuntimeError):
    """Mounting or unmounting the tmpfs failed (it needs root or CAP_SYS_ADMIN)."""


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)


@contextlib.contextmanager
def tmpfs(directory: Path | str, size_kib: int) -> Iterator[Path]:
    """Mount a tmpfs of `size_kib` KiB at `directory` (created if missing); unmount on exit."""
    if size_kib <= 0:  # size=0 means *unlimited* to tmpfs: never what a test wants
        raise ValueError(f"size_kib must be positive, not {size_kib}")
    path = Path(directory)
    if not path.exists():
        path.mkdir(parents=True)
    mounted = _run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)])
    if mounted.returncode != 0:
        raise TmpfsError(f"cannot mount a {size_kib} KiB tmpfs at {path} (needs root or "
                         f"CAP_SYS_ADMIN): {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield path
    finally:
        _unmount(path)


def _unmount(path: Path) -> None:
    """Unmount; lazily if a file is still open there, so a failed test leaks no mount."""
    if _run(["umount", str(path)]).returncode == 0:
        return
    lazy = _run(["umount", "-l", str(path)])
    if lazy.returncode != 0:
        raise TmpfsError(f"cannot unmount the tmpfs at {path}: {lazy.stderr.strip()}")


def kill_when_paused(argv: list[str], cwd: Path) -> tuple[str, str]:
    """Run a child until it prints its first line (it says `paused` at the moment to
    crash), then SIGKILL it; returns that line and the child's stderr."""
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
    finally:
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate()
    return line, err
