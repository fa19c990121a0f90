"""`lakeconsole serve`: the console in a browser (textual-serve), the same app and keys.

textual-serve starts one console process per browser session, with the command built
here: the same config flags (and `--demo`) as `serve` was given.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from lakeconsole.config import Settings

PASSED_ON = (("config", "--config"), ("data_root", "--data-root"), ("nats_url", "--nats-url"))


def console_command(args: argparse.Namespace) -> str:
    """The shell command that starts the console with serve's flags."""
    command = [sys.executable, "-m", "lakeconsole"]
    for attr, flag in PASSED_ON:
        value = getattr(args, attr, None)
        if value:
            command += [flag, str(value)]
    if getattr(args, "demo", False):
        command.append("--demo")
    return shlex.join(command)


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the console on http://HOST:PORT until Ctrl-C."""
    from lakeconsole.tui.serve import serve_in_browser  # aiohttp and jinja: only here

    serve_in_browser(console_command(args), args.host, args.port)
    return 0
