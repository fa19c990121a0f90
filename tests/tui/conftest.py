"""Fixtures shared by the console tests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def utc_plus_3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is a fixed UTC+3 without DST (POSIX TZ: the sign is inverted)."""
    monkeypatch.setenv("TZ", "XYZ-3")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
