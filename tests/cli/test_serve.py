"""`lakeconsole serve`: the console command each browser session runs keeps serve's flags."""

from __future__ import annotations

import shlex
import sys

from lakeconsole.cli import build_parser
from lakeconsole.commands.serve import console_command


def test_the_console_command_keeps_the_config_flags_and_demo() -> None:
    """--config, --data-root, --nats-url and --demo (before or after `serve`) pass on."""
    args = build_parser().parse_args(["--config", "my lake.toml", "serve", "--data-root",
                                      "/tmp/lake", "--nats-url", "nats://127.0.0.1:4333",
                                      "--demo", "--port", "8123"])
    assert (args.host, args.port) == ("127.0.0.1", 8123)
    assert shlex.split(console_command(args)) == [
        sys.executable, "-m", "lakeconsole", "--config", "my lake.toml", "--data-root",
        "/tmp/lake", "--nats-url", "nats://127.0.0.1:4333", "--demo"]
    before = build_parser().parse_args(["--demo", "serve"])
    assert shlex.split(console_command(before))[-1] == "--demo"
    plain = build_parser().parse_args(["serve"])
    assert shlex.split(console_command(plain)) == [sys.executable, "-m", "lakeconsole"]
    assert plain.port == 8000
