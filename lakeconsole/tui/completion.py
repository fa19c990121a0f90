"""SQL completion candidates: the lake's view names, their columns and a few keywords.

Pure functions (no textual): the SQL editor asks them for the word before the cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CANDIDATES = 40
KEYWORDS = (
    "SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "HAVING", "LIMIT", "JOIN", "LEFT JOIN",
    "ON", "AS", "AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "ILIKE", "IS NULL",
    "IS NOT NULL", "DISTINCT", "COUNT", "SUM", "AVG", "MIN", "MAX", "CASE", "WHEN", "THEN",
    "ELSE", "END", "DESC", "ASC", "WITH", "UNION ALL", "DESCRIBE", "SHOW TABLES",
)
_WORD_BEFORE = re.compile(r"(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*)?$")


@dataclass(frozen=True)
class Candidate:
    """One completion: the text to insert and what it is (view, column of …, keyword)."""

    text: str
    kind: str


def word_before(line: str, column: int) -> tuple[str | None, str]:
    """The qualifier (`view.`) and the partial word that end at `column` of `line`."""
    match = _WORD_BEFORE.search(line[:column])
    if match is None:  # the pattern matches the empty string: never None in practice
        return None, ""
    return match.group(1), match.group(2) or ""


def candidates(qualifier: str | None, prefix: str,
               views: dict[str, list[str]]) -> list[Candidate]:
    """What may complete `prefix`: after `view.` that view's columns; else views, columns,
    keywords, each starting with `prefix` (case-insensitive)."""
    low = prefix.lower()
    if qualifier is not None:
        columns = views.get(qualifier.lower(), [])
        return [Candidate(c, "column") for c in columns if c.startswith(low)][:MAX_CANDIDATES]
    found = [Candidate(v, "view") for v in views if v.startswith(low)]
    seen: dict[str, list[str]] = {}
    for view, columns in views.items():
        for column in columns:
            if column.startswith(low):
                seen.setdefault(column, []).append(view)
    found += [Candidate(c, _in_views(where)) for c, where in sorted(seen.items())]
    if prefix:
        found += [Candidate(k, "keyword") for k in KEYWORDS if k.lower().startswith(low)]
    return [c for c in found if c.text.lower() != low][:MAX_CANDIDATES]


def _in_views(views: list[str]) -> str:
    return f"column of {views[0]}" if len(views) == 1 else f"column of {len(views)} views"
