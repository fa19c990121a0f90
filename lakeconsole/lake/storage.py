"""One storage abstraction over fsspec: atomic visible writes, listing, sweeping."""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fsspec
from fsspec.core import url_to_fs
from fsspec.exceptions import FSTimeoutError

from lakeconsole.errors import LakeError, StorageError, describe

if TYPE_CHECKING:
    from lakeconsole.config import StorageSettings

TEMP_PREFIX = ".tmp-"
S3_RETRIES = 2  # s3fs's own retry loop, on top of botocore's bounded attempts
MIN_BYTES_PER_S = 1_000_000  # slowest upload still counted as progress, for write deadlines


def is_hidden(name: str) -> bool:
    """Readers skip names starting with `.` or `_` (temp files, markers)."""
    base = posixpath.basename(name)
    return base.startswith((".", "_"))


@dataclass(frozen=True)
class FileInfo:
    """A file under the lake root."""

    path: str  # relative to the root, `/`-separated
    size: int
    version: str = ""  # changes with the content: ETag on S3, mtime and inode locally


class Storage:
    """The lake root on local disk or S3; every path argument is relative to the root."""

    def __init__(
        self,
        url: str,
        storage_options: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        with self._failures("open the lake at", ""):
            fs, root = url_to_fs(url, **(storage_options or {}))
            self.fs: fsspec.AbstractFileSystem = fs
            self.root = root.rstrip("/")
            self.is_local = "file" in _protocols(fs)
            if self.is_local:
                os.makedirs(self.root, exist_ok=True)
            elif hasattr(fs, "retries"):
                fs.retries = S3_RETRIES

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> Storage:
        """The lake root the settings name, with their S3 options and time limits."""
        return cls(settings.url, settings.storage_options(), settings.timeout_s)

    def _io(self, factor: float = 3.0, nbytes: int = 0) -> dict[str, float]:
        """A deadline for one call on an async filesystem (S3), enforced by fsspec.

        botocore's own timeouts do not cover every wait (a PUT to an endpoint that accepts
        and never answers hung for minutes): this turns any hang into an error.
        """
        if self.is_local or self.timeout_s is None:
            return {}
        return {"timeout": factor * self.timeout_s + nbytes / MIN_BYTES_PER_S}

    @contextmanager
    def _failures(self, verb: str, relpath: str) -> Iterator[None]:
        """Whatever the filesystem raises (OSError, botocore, aiohttp…) becomes a StorageError.

        FileNotFoundError passes through: callers treat a missing file as an answer.
        """
        try:
            yield
        except (FileNotFoundError, LakeError):
            raise
        except Exception as exc:
            where = f"{self.url.rstrip('/')}/{relpath}" if relpath else self.url
            why = describe(exc)
            if isinstance(exc, FSTimeoutError | TimeoutError):
                why = f"no answer from storage within the time limit ({why})"
            raise StorageError(f"cannot {verb} {where}: {why}") from exc

    @property
    def backend(self) -> str:
        """`local` or `s3`."""
        return "local" if self.is_local else _protocols(self.fs)[0]

    def full(self, relpath: str) -> str:
        """Absolute path (bucket/key on S3) of a lake-relative path."""
        return f"{self.root}/{relpath.lstrip('/')}" if relpath else self.root

    def rel(self, full: str) -> str:
        """Lake-relative path of an absolute one."""
        full = full.rstrip("/")
        if full.startswith(self.root):
            return full[len(self.root) :].lstrip("/")
        return full

    def write_atomic(self, relpath: str, data: bytes) -> None:
        """Publish `data` at `relpath` so that readers see all of it or nothing."""
        with self._failures("write", relpath):
            try:
                if self.is_local:
                    self._write_local(self.full(relpath), data)
                else:
                    # One PUT of a finished buffer: S3 never shows a partial object.
                    self.fs.pipe_file(self.full(relpath), data, **self._io(nbytes=len(data)))
            except FileNotFoundError as exc:  # a missing parent is a failed write, not an answer
                raise StorageError(f"cannot write {self.url}/{relpath}: {describe(exc)}") from exc

    @staticmethod
    def _write_local(path: str, data: bytes) -> None:
        directory = os.path.dirname(path)
        tmp = write_temp(directory, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)

    def read_bytes(self, relpath: str) -> bytes:
        """The whole content of a file."""
        with self._failures("read", relpath):
            data: bytes = self.fs.cat_file(self.full(relpath), **self._io(10))
        return data

    def open(self, relpath: str, mode: str = "rb") -> Any:
        """A file object (for pyarrow)."""
        with self._failures("open", relpath):
            return self.fs.open(self.full(relpath), mode)

    def exists(self, relpath: str) -> bool:
        """Whether a file or directory exists."""
        with self._failures("look up", relpath):
            return bool(self.fs.exists(self.full(relpath), **self._io()))

    def list_dir(self, relpath: str) -> list[str]:
        """Names of the visible children of a directory; empty when it does not exist."""
        try:
            with self._failures("list", relpath):
                entries = self.fs.ls(self.full(relpath), detail=False, refresh=True, **self._io(10))
        except FileNotFoundError:
            return []
        except StorageError as exc:
            if isinstance(exc.__cause__, NotADirectoryError):
                return []
            raise
        names = [posixpath.basename(str(e).rstrip("/")) for e in entries]
        return sorted(n for n in names if n and not is_hidden(n))

    def files(
        self, relpath: str, suffix: str = ".parquet", hidden: bool = False
    ) -> list[FileInfo]:
        """Files below a directory, recursively, sorted by path (one LIST on S3).

        Hidden names (temp files, pending Silver files, markers) only when `hidden`;
        `suffix` applies to visible files only.
        """
        self.invalidate(relpath)
        try:
            with self._failures("list", relpath):
                found = self.fs.find(self.full(relpath), detail=True, **self._io(10))
        except FileNotFoundError:
            return []
        out = []
        for full, info in found.items():
            rel = self.rel(full)
            if hidden or (rel.endswith(suffix) and not any(is_hidden(p) for p in rel.split("/"))):
                out.append(FileInfo(rel, int(info.get("size") or 0), _version(info)))
        return sorted(out, key=lambda f: f.path)

    def delete(self, relpaths: list[str]) -> None:
        """Remove files; missing ones are ignored."""
        for relpath in relpaths:
            with contextlib.suppress(FileNotFoundError), self._failures("delete", relpath):
                self.fs.rm_file(self.full(relpath), **self._io())

    def sweep_temp(self, older_than_s: float = 0.0) -> list[str]:
        """Delete temp files that a crashed writer left behind; returns what went."""
        swept = []
        now = time.time()
        for full in self._find_all():
            rel = self.rel(full)
            if not posixpath.basename(rel).startswith(TEMP_PREFIX):
                continue
            if older_than_s and now - self._mtime(full) < older_than_s:
                continue
            self.delete([rel])
            swept.append(rel)
        return swept

    def _find_all(self) -> list[str]:
        try:
            with self._failures("list", ""):
                return list(self.fs.find(self.root, withdirs=False, **self._io(30)))
        except FileNotFoundError:
            return []

    def _mtime(self, full: str) -> float:
        with self._failures("look up", self.rel(full)):
            info = self.fs.info(full, **self._io())
        modified = info.get("mtime") or info.get("LastModified") or info.get("created")
        return modified.timestamp() if hasattr(modified, "timestamp") else float(modified or 0)

    def invalidate(self, relpath: str = "") -> None:
        """Forget cached listings (S3 caches directory listings)."""
        with self._failures("refresh the listing of", relpath):
            self.fs.invalidate_cache(self.full(relpath))

    def rename(self, src: str, dst: str) -> None:
        """Move a file to `dst` (replacing it): atomic locally; on S3 a copy, then a delete."""
        with self._failures("rename", src):
            if self.is_local:
                os.replace(self.full(src), self.full(dst))
                _fsync_dir(os.path.dirname(self.full(dst)))
            else:
                # S3 has no rename: a server-side copy (no data through us), then a delete.
                self.fs.cp_file(self.full(src), self.full(dst), **self._io(10))
                self.fs.rm_file(self.full(src), **self._io())


def write_temp(directory: str, data: bytes) -> str:
    """A hidden, fsynced temp file holding `data` in `directory`; the caller publishes it."""
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        # A failed write (disk full, I/O error) must not leave its temp file behind.
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def _version(info: dict[str, Any]) -> str:
    """What changes when a file's content does, from its listing entry alone (no reads).

    S3: the ETag (MD5 of a single-PUT object; for multipart, a hash of the parts' MD5s).
    Local: mtime and inode: an atomic rewrite gets a new inode, an in-place write a new mtime.
    """
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return str(etag).strip('"')
    return f"{info.get('mtime')}:{info.get('ino')}"


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
