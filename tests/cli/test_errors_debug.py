"""Errors are one line on stderr; `--debug` adds the traceback; the exit codes stay the same."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakeconsole.lake.storage import Storage
from tests.factories import trades, write

READ = ["read", "bronze", "stocks.trades", "SPY", "--date", "2026-01-01"]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """A local lake with a few SPY trades on 2026-01-01."""
    root = tmp_path / "lake"
    write(Storage(str(root), {}), trades(50), "stocks.trades")
    return root


def lakeconsole(root: Path, *args: str, stdout: str = os.devnull) -> tuple[int, str]:
    """Run the command with stdout to `stdout`; returns the exit code and stderr."""
    env = {k: v for k, v in os.environ.items() if k != "LAKECONSOLE_CONFIG"}
    with open(stdout, "w") as out:
        done = subprocess.run([sys.executable, "-m", "lakeconsole", "--data-root", str(root),
                               *args], stdout=out, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=root.parent, timeout=60, check=False)
    return done.returncode, done.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_unexpected_error_is_one_line_and_exit_1(lake: Path) -> None:
    """A full disk under stdout (no LakeError wraps it): one line, no traceback, exit 1."""
    code, err = lakeconsole(lake, *READ, stdout="/dev/full")
    assert code == 1
    assert err == "lakeconsole: error: OSError: [Errno 28] No space left on device\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_debug_prints_the_traceback_of_an_unexpected_error(lake: Path) -> None:
    """--debug (before or after the subcommand): the traceback, then the same line and code."""
    for args in (["--debug", *READ], [*READ, "--debug"]):
        code, err = lakeconsole(lake, *args, stdout="/dev/full")
        assert code == 1
        assert err.startswith("Traceback (most recent call last):\n")
        assert "lakeconsole/commands/read.py" in err
        assert err.endswith("lakeconsole: error: OSError: [Errno 28] No space left on device\n")


def test_a_lake_error_keeps_exit_2_and_debug_adds_its_traceback(lake: Path) -> None:
    """A bad date is a LakeError: one line and exit 2; with --debug the traceback too."""
    bad = [*READ[:-1], "2026-13-01"]
    code, err = lakeconsole(lake, *bad)
    assert (code, err) == (2, "lakeconsole: error: not a date (YYYY-MM-DD): '2026-13-01'\n")
    code, err = lakeconsole(lake, "--debug", *bad)
    assert code == 2
    assert err.startswith("Traceback (most recent call last):\n")
    assert err.endswith("lakeconsole: error: not a date (YYYY-MM-DD): '2026-13-01'\n")


def lakeconsole_s3(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run the command on an S3 lake configured by `env` only; returns exit code and stderr."""
    base = {k: v for k, v in os.environ.items()
            if k != "LAKECONSOLE_CONFIG" and not k.startswith("AWS_")}
    # No credential file, no instance metadata: nothing but loopback is ever asked.
    base |= {"AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_CONFIG_FILE": os.devnull,
             "AWS_EC2_METADATA_DISABLED": "true", "USE_S3": "true", "S3_BUCKET": "lake",
             **env}
    done = subprocess.run([sys.executable, "-m", "lakeconsole", *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, env=base, cwd=cwd, timeout=120,
                          check=False)
    return done.returncode, done.stderr


S3_COMMANDS = [pytest.param(READ, id="read"),
               pytest.param(["compact", "--date", "2026-01-01"], id="compact")]


@pytest.mark.slow
@pytest.mark.parametrize("args", S3_COMMANDS)
def test_unreachable_s3_endpoint_is_one_line(args: list[str], tmp_path: Path) -> None:
    """A closed endpoint: one line naming it, non-zero; --debug adds botocore's traceback."""
    from tests.conftest import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    env = {"S3_ENDPOINT": endpoint, "S3_ACCESS_KEY": "testing", "S3_SECRET_KEY": "testing"}
    code, err = lakeconsole_s3(args, env, tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lakeconsole: error: cannot ")
    assert f"S3 endpoint {endpoint} unreachable (EndpointConnectionError)" in err
    code, err = lakeconsole_s3([*args, "--debug"], env, tmp_path)
    assert code == 2
    assert err.startswith("Traceback (most recent call last):\n")
    assert "botocore.exceptions.EndpointConnectionError" in err
    assert err.endswith(f"S3 endpoint {endpoint} unreachable (EndpointConnectionError)\n")


@pytest.mark.slow
@pytest.mark.parametrize("args", S3_COMMANDS)
def test_missing_s3_credentials_is_one_line(args: list[str], tmp_path: Path) -> None:
    """No key anywhere: one line saying which settings to give, non-zero, no traceback."""
    from tests.conftest import free_port

    code, err = lakeconsole_s3(args, {"S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"},
                               tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no S3 credentials (NoCredentialsError): set S3_ACCESS_KEY and S3_SECRET_KEY" in err
