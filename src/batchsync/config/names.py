"""The rule for every name the config hands to the database: tables, columns and schemas.

A name is a plain identifier (ASCII letters, digits and underscores, not starting with a digit) of at
most 63 bytes. Quotes, spaces, semicolons and the like are refused rather than quoted: every statement
batchsync builds quotes its names anyway, but a plain name also reads the same in `psql`, in the sqlite3
shell and in the migration batchsync suggests, and cannot be mistaken for SQL by whoever copies it.

63 bytes is PostgreSQL's limit (NAMEDATALEN - 1): it silently cuts a longer name short, so two long names
could meet as one. SQLite has no such limit; the rule is the same on both, so a config moves between them
unchanged, and since no name is ever cut, no two names can collide once cut.

Case: PostgreSQL keeps the case of the (quoted) names batchsync sends, so `Price` and `price` are two
columns there, while SQLite treats them as one. The columns of one table must therefore differ by more
than case. Tables and schemas may use any case; on PostgreSQL `Items` is then a different table from
`items`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_BYTES = 63
RESERVED_TABLE_PREFIX = "batchsync_"
"""batchsync's own tables (`batchsync_runs`, …) start with this, in any case."""
RESERVED_COLUMN_PREFIX = "_batchsync"
"""batchsync's bookkeeping columns (`_batchsync_hash`, …) start with this, in any case."""


def is_plain_identifier(name: str) -> bool:
    """Letters, digits and underscores, not starting with a digit (a trailing newline is not allowed)."""
    return _IDENTIFIER.fullmatch(name) is not None


def check_name(name: str) -> str:
    """`name` if it may name a table, column or schema; ValueError saying why not."""
    if not name:
        raise ValueError("must not be empty")
    if not is_plain_identifier(name):
        raise ValueError(
            f"{name!r} is not a plain identifier: use letters, digits and underscores, not starting with "
            "a digit (no spaces, quotes or other signs)"
        )
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise ValueError(
            f"{name[:20]}… is {size} bytes long; names are at most {MAX_NAME_BYTES} bytes "
            "(PostgreSQL would silently cut it short)"
        )
    return name


def check_table_name(name: str) -> str:
    """A name for a table batchsync writes: `check_name`, and not in batchsync's own prefix."""
    check_name(name)
    if name.lower().startswith(RESERVED_TABLE_PREFIX):
        raise ValueError("the batchsync_ prefix is reserved for batchsync's own tables")
    return name


def check_schema_name(name: str) -> str:
    """A PostgreSQL schema batchsync may create and write into: not one of the system's own."""
    check_name(name)
    lowered = name.lower()
    if lowered.startswith("pg_") or lowered == "information_schema":
        raise ValueError(f"{name!r} is a PostgreSQL system schema name (pg_*, information_schema)")
    return name


def check_column_names(names: Iterable[str]) -> None:
    """The columns of one table: each a name, none in batchsync's bookkeeping prefix, and no two that
    differ only by case (SQLite would take them for one column). Raises ValueError naming the first
    problem."""
    seen: dict[str, str] = {}
    for name in names:
        check_name(name)
        if name.lower().startswith(RESERVED_COLUMN_PREFIX):
            raise ValueError(
                f"column name {name!r}: the _batchsync prefix is reserved for batchsync's own columns"
            )
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise ValueError(
                f"columns {other!r} and {name!r} differ only by case, which SQLite treats as the same "
                "column; rename one"
            )


def optional(check: Callable[[str], str]) -> Callable[[str | None], str | None]:
    """`check` for a setting that may be left out (None passes)."""

    def check_if_set(name: str | None) -> str | None:
        return None if name is None else check(name)

    return check_if_set
