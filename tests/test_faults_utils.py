"""The fault-injection tools work: the TCP proxy's modes against a real moto S3, and tmpfs."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import s3fs
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from tests.conftest import s3_options
from tests.faults import TcpProxy, TmpfsError, tmpfs

FAST_FAIL_S = 2.0
TIMEOUT_S = 0.5


def s3_client(endpoint: str, pool: int = 10) -> Any:
    """A boto3 S3 client with short timeouts and a single attempt (no retries)."""
    # total_max_attempts counts the first try; the older `max_attempts` counts retries only.
    config = Config(connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S,
                    retries={"total_max_attempts": 1}, max_pool_connections=pool)
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=config)


def roundtrip(client: Any, bucket: str, key: str, body: bytes) -> bytes:
    """PUT then GET one object; the bytes read back."""
    client.put_object(Bucket=bucket, Key=key, Body=body)
    data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[TcpProxy]:
    """A proxy in front of the session's moto server."""
    with TcpProxy.for_url(s3_endpoint) as p:
        yield p


def connect_error(port: int) -> int | None:
    """errno of a plain TCP connect to a loopback port, None if it connects."""
    with socket.socket() as s:
        s.settimeout(FAST_FAIL_S)
        return s.connect_ex(("127.0.0.1", port)) or None


def open_raw(proxy: TcpProxy, n: int = 1) -> list[socket.socket]:
    """`n` plain TCP connections through the proxy, once the proxy has accepted them all."""
    # moto answers `Connection: close`, so boto3 keeps no connection open across requests;
    # raw sockets stand in for a pool's idle keep-alive connections.
    socks = [socket.create_connection(("127.0.0.1", proxy.port), FAST_FAIL_S) for _ in range(n)]
    deadline = time.monotonic() + FAST_FAIL_S
    while proxy.open_connections < n:
        assert time.monotonic() < deadline, f"{proxy.open_connections} of {n} accepted"
        time.sleep(0.01)
    return socks


def http_get(sock: socket.socket, path: str) -> bytes:
    """Send a GET on an open connection; the whole response (the server closes after it)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: s3\r\n\r\n".encode())
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.s3
def test_forward_passes_boto3_and_s3fs_through(
        proxy: TcpProxy, s3_endpoint: str, s3_bucket: str) -> None:
    """PUT and GET work through the proxy, and really land on the moto server behind it."""
    assert proxy.mode == "forward" and proxy.url != s3_endpoint
    via_proxy = s3_client(proxy.url)
    assert roundtrip(via_proxy, s3_bucket, "a.bin", b"hello") == b"hello"
    direct = s3_client(s3_endpoint)
    assert direct.get_object(Bucket=s3_bucket, Key="a.bin")["Body"].read() == b"hello"

    fs = s3fs.S3FileSystem(**s3_options(proxy.url))
    fs.pipe(f"{s3_bucket}/b.bin", b"x" * 100_000)
    assert fs.cat(f"{s3_bucket}/b.bin") == b"x" * 100_000
    assert direct.head_object(Bucket=s3_bucket, Key="b.bin")["ContentLength"] == 100_000


@pytest.mark.s3
def test_forward_handles_many_concurrent_connections(proxy: TcpProxy, s3_bucket: str) -> None:
    """50 connections open at once each get their answer; 64 parallel round trips stay intact."""
    socks = open_raw(proxy, 50)
    try:
        answers = [http_get(s, f"/{s3_bucket}") for s in socks]
    finally:
        for s in socks:
            s.close()
    assert all(a.startswith(b"HTTP/1.1 200") and s3_bucket.encode() in a for a in answers)

    client = s3_client(proxy.url, pool=16)
    bodies = {f"k{i}": os.urandom(20_000 + i) for i in range(64)}
    with ThreadPoolExecutor(16) as pool:
        got = dict(zip(bodies, pool.map(
            lambda k: roundtrip(client, s3_bucket, k, bodies[k]), bodies), strict=True))
    assert got == bodies


@pytest.mark.s3
def test_refuse_fails_fast_then_forward_recovers(proxy: TcpProxy, s3_bucket: str) -> None:
    """Refused: open connections are reset, new ones refused; botocore fails at once."""
    client = s3_client(proxy.url)
    assert roundtrip(client, s3_bucket, "k", b"before") == b"before"
    [idle] = open_raw(proxy)

    proxy.refuse()
    assert proxy.open_connections == 0
    with pytest.raises(ConnectionResetError):
        http_get(idle, "/")
    idle.close()
    assert connect_error(proxy.port) == errno.ECONNREFUSED
    started = time.monotonic()
    with pytest.raises(EndpointConnectionError):
        client.get_object(Bucket=s3_bucket, Key="k")
    assert time.monotonic() - started < FAST_FAIL_S

    proxy.forward()
    assert connect_error(proxy.port) is None  # the same port listens again
    assert roundtrip(client, s3_bucket, "k", b"after") == b"after"


@pytest.mark.s3
def test_blackhole_hangs_until_the_read_timeout_then_forward_recovers(
        proxy: TcpProxy, s3_bucket: str) -> None:
    """Black-holed: connecting works, no answer comes, the request ends in ReadTimeoutError."""
    client = s3_client(proxy.url)
    assert roundtrip(client, s3_bucket, "k", b"before") == b"before"
    [idle] = open_raw(proxy)

    proxy.blackhole()
    idle.settimeout(TIMEOUT_S)
    with pytest.raises(TimeoutError):  # an open connection goes silent too
        http_get(idle, f"/{s3_bucket}")
    assert connect_error(proxy.port) is None  # accepted, unlike refuse
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        client.get_object(Bucket=s3_bucket, Key="k")
    assert TIMEOUT_S * 0.9 <= time.monotonic() - started < FAST_FAIL_S

    proxy.forward()
    with pytest.raises(ConnectionResetError):  # its stream lost bytes: it is reset, not resumed
        idle.recv(1)
    idle.close()
    assert roundtrip(client, s3_bucket, "k", b"after") == b"after"


@pytest.mark.s3
def test_close_resets_connections_and_frees_everything(s3_endpoint: str, s3_bucket: str) -> None:
    """close() stops the thread and the listener even with connections open; twice is fine."""
    proxy = TcpProxy.for_url(s3_endpoint)
    client = s3_client(proxy.url)
    assert roundtrip(client, s3_bucket, "k", b"v") == b"v"
    proxy.blackhole()
    proxy.close()
    proxy.close()
    assert connect_error(proxy.port) == errno.ECONNREFUSED
    assert not any(t.name == f"tcp-proxy-{proxy.port}" for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="closed"):
        proxy.forward()
    with TcpProxy.for_url(s3_endpoint) as other, pytest.raises(ValueError, match="mode must"):
        other.set_mode("drop")  # type: ignore[arg-type]


def test_tmpfs_fills_up_with_enospc_and_unmounts(tmp_path: Path) -> None:
    """Writes past the size fail with ENOSPC; on exit the mount and its files are gone."""
    disk = tmp_path / "disk"
    with tmpfs(disk, 64) as mounted:
        assert mounted == disk and os.path.ismount(disk)
        (disk / "small").write_bytes(b"x" * 16 * 1024)  # fits
        with pytest.raises(OSError) as info, (disk / "big").open("wb") as f:
            f.write(b"x" * 128 * 1024)
            f.flush()
        assert info.value.errno == errno.ENOSPC
    assert not os.path.ismount(disk)
    assert list(disk.iterdir()) == []


def test_tmpfs_reports_a_failed_mount(tmp_path: Path) -> None:
    """Mounting over a regular file fails with a TmpfsError that names the path."""
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(TmpfsError, match=r"cannot mount a 64 KiB tmpfs at .*file"), \
            tmpfs(not_a_dir, 64):
        pass
    with pytest.raises(ValueError, match="positive"), tmpfs(tmp_path, 0):
        pass
