"""`lakeconsole serve --demo` in a real browser: Debian's chromium, headless, via Playwright.

xterm.js in the page draws the terminal on a canvas, so there is no text in the DOM to read.
The test reads what the terminal was sent instead: every WebSocket frame the page receives
(the console's output, as the browser renders it), with the escape sequences taken out. It
also checks that the canvas was drawn on, in a screenshot. Only loopback is ever contacted:
the page's requests elsewhere (a web font) are aborted.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
LOOPBACK = ("http://127.0.0.1", "ws://127.0.0.1")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`lakeconsole serve --demo` on a free loopback port; its URL once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("LAKECONSOLE_CONFIG", "NATS_URL")}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "lakeconsole", "--data-root", str(tmp_path / "lake"), "serve",
         "--demo", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(url), 60, "the server never answered")
        yield url
    finally:
        # The whole session: textual-serve's console processes and their nats-server too.
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()


def answers(url: str) -> bool:
    """Whether the page is served."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it holds, or fail with `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(what)


class Screen:
    """The text the terminal in the page was sent (escape sequences removed)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def on_frame(self, payload: str | bytes) -> None:
        """A WebSocket frame from the server: binary frames are terminal output."""
        if isinstance(payload, bytes):
            self.frames.append(payload)

    def text(self, since: int = 0) -> str:
        """Everything drawn since frame `since`, as plain text."""
        raw = b"".join(self.frames[since:])
        return ANSI.sub(b"", raw).decode("utf-8", "replace")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get "
                                             "install chromium; .ci/run installs it)")
def test_the_console_in_chromium(served: str, tmp_path: Path) -> None:
    """The page loads, the dashboard lists the datasets, and `4` switches to the Query tab."""
    from playwright.sync_api import Route, WebSocket, sync_playwright

    screen = Screen()

    def loopback_only(route: Route) -> None:
        if route.request.url.startswith(LOOPBACK):
            route.continue_()
        else:
            route.abort()

    def watch(ws: WebSocket) -> None:
        ws.on("framereceived", screen.on_frame)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.route("**/*", loopback_only)
            page.on("websocket", watch)
            page.goto(served)
            assert page.locator("#terminal").get_attribute("data-session-websocket-url")
            page.wait_for_selector("body.-first-byte", timeout=90_000)
            poll(page, lambda: "stocks.trades" in screen.text(), 90, "no dataset names")
            text = screen.text()
            for name in ("stocks.quotes", "futures.mbp10", "levels.signals", "1 Dashboard"):
                assert name in text
            page.screenshot(path=str(tmp_path / "dashboard.png"))
            assert canvas_drawn(page)

            page.click("#terminal")
            before = len(screen.frames)
            page.keyboard.press("4")
            poll(page, lambda: "reader form" in screen.text(before), 30, "no Query tab")
            page.screenshot(path=str(tmp_path / "query.png"))
        finally:
            browser.close()


def poll(page: Any, check: Callable[[], bool], timeout: float, what: str) -> None:
    """Let the page run (frames arrive in its event loop) until `check` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        page.wait_for_timeout(200)
    raise AssertionError(what)


def canvas_drawn(page: Any) -> bool:
    """Whether the terminal area holds a drawn screen: a flat or empty area compresses to a
    few KB of PNG, a screen full of text and borders to far more."""
    return len(page.locator("#terminal").screenshot()) > 20_000
