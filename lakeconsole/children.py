"""The child side of `--headless --processes N`: flag check, metrics port, log labels.

Kept apart from `lakeconsole.supervisor` (the parent) so that `headless` and `cli` can use
it without importing the parent's machinery.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from lakeconsole.config import Settings, metrics_address


def positive_processes(text: str) -> int:
    """argparse type of `--processes`: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def child_metrics(settings: Settings, default: str, index: int) -> tuple[Settings, str]:
    """Settings and default address shifted so child `index` serves on port + index."""
    address = metrics_address(settings.metrics.addr, default)
    if address is None or address[1] == 0:  # off, or any free port: nothing to shift
        return settings, default
    shifted = f"{address[0]}:{address[1] + index}"
    if not settings.metrics.addr:  # still "the default": a taken port only warns
        return settings, shifted
    metrics = dataclasses.replace(settings.metrics, addr=shifted)
    return dataclasses.replace(settings, metrics=metrics), default


class _ChildLabel(logging.Filter):
    """Adds `proc` (the child's index) to each record: text shows it, JSON carries it."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def filter(self, record: logging.LogRecord) -> bool:
        """Label the record; never drops one."""
        record.proc = self.index
        return True


def label_child_logs(index: int, log_format: str) -> None:
    """Mark every log line of child `index` (`[p0]` in text, `"proc": 0` in JSON)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_ChildLabel(index))
        if log_format == "text":
            handler.setFormatter(logging.Formatter(
                "%(asctime)s %(levelname)-7s [p%(proc)s] %(name)s: %(message)s"))
