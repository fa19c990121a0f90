"""The SQL editor's history: the last queries, one JSON line each, in the XDG state folder.

File I/O only (no textual): the console calls it from worker threads.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

MAX_ENTRIES = 200
FILE_NAME = "history.jsonl"


def history_path() -> Path:
    """`$XDG_STATE_HOME/lakeconsole/history.jsonl` (default `~/.local/state/…`)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "lakeconsole" / FILE_NAME


def load(path: Path | None = None) -> list[str]:
    """The remembered queries, oldest first; unreadable lines and files are skipped."""
    path = path or history_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    queries: list[str] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("sql"), str):
            queries.append(entry["sql"])
    return queries[-MAX_ENTRIES:]


def remember(queries: list[str], sql: str) -> list[str]:
    """`queries` with `sql` last (moved there if already present), at most MAX_ENTRIES."""
    return [*(q for q in queries if q != sql), sql][-MAX_ENTRIES:]


def add(sql: str, path: Path | None = None) -> list[str]:
    """Append `sql` to the history file; returns the history now."""
    queries = remember(load(path), sql)
    save(queries, path)
    return queries


def save(queries: list[str], path: Path | None = None) -> None:
    """Write the history (atomically: a crash leaves the old file or the new one)."""
    path = path or history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps({"sql": q}) + "\n" for q in queries[-MAX_ENTRIES:])
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
