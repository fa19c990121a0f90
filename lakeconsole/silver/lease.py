"""Mutual exclusion for one Silver partition: a lock per process and a lease on storage."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from lakeconsole.lake.storage import Storage, write_temp

_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_REGISTRY = threading.Lock()


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, as written in the lease object."""

    owner: str
    host: str
    pid: int
    expires_ns: int

    def expired(self) -> bool:
        """Past its expiry time."""
        return time.time_ns() >= self.expires_ns

    def dead(self) -> bool:
        """Held by a process of this host that no longer runs (killed mid-compaction)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def describe(self) -> str:
        """For messages: `pid 123 on host`."""
        return f"pid {self.pid} on {self.host}"


class Lease:
    """A lease object at `relpath`, created exclusively, expiring after `ttl_s`."""

    def __init__(self, storage: Storage, relpath: str, ttl_s: float) -> None:
        self.storage = storage
        self.relpath = relpath
        self.ttl_s = ttl_s
        self.owner = uuid.uuid4().hex
        self._local = _local_lock(f"{storage.url}/{relpath}")
        self._held = False

    def acquire(self) -> Holder | None:
        """Take the lease; returns None on success, else who holds it."""
        if not self._local.acquire(blocking=False):
            return Holder("this process", socket.gethostname(), os.getpid(), 0)
        try:
            holder = self._take()
        except BaseException:
            self._local.release()
            raise
        if holder is not None:
            self._local.release()
        self._held = holder is None
        return holder

    def _take(self) -> Holder | None:
        if self._create():
            return None
        holder = self.holder()
        if holder is None or holder.expired() or holder.dead():
            # A crashed or timed-out holder: break its lease and try once more.
            self.storage.delete([self.relpath])
            if self._create():
                return None
            holder = self.holder()
        return holder or Holder("unknown", "?", 0, 0)

    def _create(self) -> bool:
        data = self._body()
        try:
            if self.storage.is_local:
                _create_local(self.storage.full(self.relpath), data)
            else:
                # If-None-Match: * — S3 (and MinIO, moto) refuse when the object exists.
                self.storage.fs.pipe_file(self.storage.full(self.relpath), data, mode="create")
        except FileExistsError:
            return False
        return self.holder() == self._me(data)

    def _body(self) -> bytes:
        body = {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "expires_ns": time.time_ns() + int(self.ttl_s * 1e9),
        }
        return json.dumps(body).encode()

    @staticmethod
    def _me(data: bytes) -> Holder:
        return Holder(**json.loads(data))

    def holder(self) -> Holder | None:
        """The current holder on storage, if any."""
        try:
            return Holder(**json.loads(self.storage.read_bytes(self.relpath)))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return Holder("unreadable", "?", 0, 0)  # treated as expired

    def still_held(self) -> bool:
        """Whether the lease on storage is still ours (not broken after expiry)."""
        holder = self.holder()
        return self._held and holder is not None and holder.owner == self.owner

    def renew(self) -> None:
        """Push the expiry forward; long compactions call this between steps."""
        if self.still_held():
            self.storage.write_atomic(self.relpath, self._body())

    def release(self) -> None:
        """Give the lease up (only if it is still ours)."""
        if not self._held:
            return
        try:
            if self.still_held():
                self.storage.delete([self.relpath])
        finally:
            self._held = False
            self._local.release()


def _local_lock(key: str) -> threading.Lock:
    with _REGISTRY:
        return _LOCAL_LOCKS.setdefault(key, threading.Lock())


def _create_local(path: str, data: bytes) -> None:
    """Exclusive create with the full content at once: link() fails if the name exists."""
    tmp = write_temp(os.path.dirname(path), data)
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
