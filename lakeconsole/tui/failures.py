"""Worker failures as one line: the console shows every error and never exits on one."""

from __future__ import annotations

from lakeconsole.errors import LakeError, describe

MAX_CHARS = 300


def one_line(exc: BaseException) -> str:
    """The cause in one bounded line: a LakeError's own message, else `Type: first line`."""
    if isinstance(exc, LakeError):
        lines = str(exc).strip().splitlines()
        text = lines[0] if lines else type(exc).__name__
        return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"
    return describe(exc, MAX_CHARS)


# Where a worker's failure is reported, by worker group (the status line says "where: …").
WHERE = {"catalog": "partitions", "compact": "compaction", "query": "query",
         "display": "display", "export": "export", "service": "start", "quit": "quit",
         "chart": "chart"}


def where_of(group: str) -> str:
    """The status-line label of a worker group."""
    return WHERE.get(group, group or "worker")
