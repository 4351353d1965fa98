"""MySQL 8 has no `ADD COLUMN IF NOT EXISTS` / `ADD KEY IF NOT EXISTS` (MariaDB has both).

The migrations use them so that a migration interrupted half-way is repaired by running
`sidecar migrate` again (DDL commits implicitly). On MySQL the same guarantee is kept by
asking information_schema first: clauses whose column or key exists are dropped, the words
`IF NOT EXISTS` are removed from the others, and a statement left with nothing is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ALTER = re.compile(r"^\s*ALTER\s+TABLE\s+`?(\w+)`?\s+(.*)$", re.S | re.I)
_ADD_COLUMN = re.compile(r"^ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+`?(\w+)`?", re.I)
_ADD_KEY = re.compile(r"^ADD\s+(?:UNIQUE\s+)?(?:KEY|INDEX)\s+IF\s+NOT\s+EXISTS\s+`?(\w+)`?", re.I)
_IF_NOT_EXISTS = re.compile(r"\s+IF\s+NOT\s+EXISTS\b", re.I)

# (table) -> (its column names, its index names), lower-cased
Existing = Callable[[str], tuple[set[str], set[str]]]


def clauses(body: str) -> list[str]:
    """Split an ALTER TABLE body at top-level commas (not inside parentheses or quotes)."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(body):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    parts.append(body[start:].strip())
    return [p for p in parts if p]


def for_mysql(stmt: str, existing: Existing) -> str | None:
    """The statement as MySQL 8 takes it; None when every clause is already applied."""
    m = _ALTER.match(stmt)
    if m is None or not _IF_NOT_EXISTS.search(stmt):
        return stmt
    table, body = m.group(1), m.group(2)
    columns, indexes = existing(table)
    kept = []
    for clause in clauses(body):
        col, key = _ADD_COLUMN.match(clause), _ADD_KEY.match(clause)
        if (col and col.group(1).lower() in columns) or (key and key.group(1).lower() in indexes):
            continue
        kept.append(_IF_NOT_EXISTS.sub("", clause, count=1))
    if not kept:
        return None
    return f"ALTER TABLE {table}\n  " + ",\n  ".join(kept)
