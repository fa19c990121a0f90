"""The console in a browser: textual-serve runs one console process per browser session."""

from __future__ import annotations

from textual_serve.server import Server


def serve_in_browser(command: str, host: str, port: int) -> None:
    """Serve `command` (a console) on http://HOST:PORT until Ctrl-C."""
    Server(command, host=host, port=port, title="lakeconsole").serve()
