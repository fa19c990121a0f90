"""Errors are shown, never fatal: an unreachable S3 endpoint leaves the console running.

Every worker that touches storage (the tree, a query, a compaction) fails against a closed
loopback port; each failure is a notification and a red status line with one line of cause.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from lakeconsole.service import Service
from lakeconsole.tui.app import LakeConsoleApp
from lakeconsole.tui.widgets.compaction import CompactionPanel
from lakeconsole.tui.widgets.dashboard import StatusLine
from lakeconsole.tui.widgets.query import QueryPanel
from tests.conftest import free_port
from tests.tui.helpers import console_settings, text_of, until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
SIZE = (160, 48)


def unreachable_s3(tmp_path: Path) -> tuple[LakeConsoleApp, str]:
    """A console on an S3 lake whose endpoint is a closed loopback port (and no NATS)."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    settings = console_settings("s3://lake-bucket/lake", f"nats://127.0.0.1:{free_port()}",
                                **{"storage.s3_endpoint": endpoint,
                                   "storage.s3_access_key": "testing",
                                   "storage.s3_secret_key": "testing",
                                   "storage.timeout_s": 2.0})
    return LakeConsoleApp(Service(settings), export_dir=tmp_path / "exports"), endpoint


def shown(app: LakeConsoleApp, status: StatusLine, where: str, endpoint: str) -> bool:
    """A notification names `where` and the unreachable endpoint; the status line is red,
    one line, with that cause."""
    cause = f"S3 endpoint {endpoint} unreachable"
    text = text_of(status, width=400).strip()
    return (any(f"{where}: " in str(n.message) and cause in str(n.message)
                for n in app._notifications)
            and status.has_class("-error") and "\n" not in text and cause in text)


async def test_workers_fail_against_unreachable_s3_and_the_console_stays(
        tmp_path: Path) -> None:
    """Tree, query and compaction each fail with one line; the app keeps running."""
    app, endpoint = unreachable_s3(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        status = app.query_one(StatusLine)
        # The service's start keeps retrying storage: a red line at once, no exit.
        await until(pilot, lambda: shown(app, status, "storage", endpoint), 30)
        # The tree lists the lake on mount: it failed too, and the tab still works.
        await until(pilot, lambda: shown(app, status, "partitions", endpoint), 60)
        await pilot.press("2")
        app.clear_notifications()
        await pilot.press("r")  # a refresh fails again, the same way
        await until(pilot, lambda: shown(app, status, "partitions", endpoint), 60)

        await pilot.press("3")
        app.query_one(CompactionPanel).fill("2026-01-01", "stocks.trades", "SPY")
        app.set_focus(None)
        await pilot.press("k")
        await until(pilot, lambda: shown(app, status, "compaction", endpoint), 60)
        assert app.cancel_event is None  # the failed run is over: another may start

        await pilot.press("4")
        app.query_one(QueryPanel).fill("bronze", "stocks.trades", "SPY", "2026-01-01")
        app.query_one("#q-tier", Input).focus()
        await pilot.press("f5")
        await until(pilot, lambda: shown(app, status, "query", endpoint), 60)

        assert app.is_running and app.return_code is None
        assert not any("Traceback" in str(n.message) for n in app._notifications)
        assert all("\n" not in str(n.message) for n in app._notifications)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: app.return_code is not None, 60)
