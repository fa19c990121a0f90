"""Shared fixtures: a temp lake on local disk and on a real S3 API (moto, loopback only)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeconsole.lake.storage import Storage

pytest_plugins = ["tests.fixtures_nats"]

# Never let boto or s3fs reach for real credentials or endpoints.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_options(endpoint: str) -> dict[str, object]:
    """s3fs options pointing at the moto server."""
    return {
        "endpoint_url": endpoint,
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"region_name": "us-east-1"},
        "skip_instance_cache": True,
    }


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket per test."""
    import boto3

    name = f"lake-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def local_lake(tmp_path: Path) -> Storage:
    """A lake on local disk."""
    return Storage(str(tmp_path / "lake"))


@pytest.fixture
def s3_lake(s3_endpoint: str, s3_bucket: str) -> Storage:
    """A lake in a moto S3 bucket."""
    return Storage(f"s3://{s3_bucket}/lake", s3_options(s3_endpoint))


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def lake(request: pytest.FixtureRequest) -> Storage:
    """The same test against a local directory and against S3."""
    fixture = "local_lake" if request.param == "local" else "s3_lake"
    storage: Storage = request.getfixturevalue(fixture)
    return storage
