"""Dead letters: records that could not be synced, kept in `batchsync_errors` with the reason.

Written in the same transaction as the batch they came from and its checkpoint, so a record is either
in the table, in the dead letters, or (after a crash) in neither and fetched again — never lost. There is
at most one entry per failing key: a newer failure replaces the older one, and a later successful write
of the key resolves it.

Keys and reasons are stored with a NUL byte written as `\\u0000` (as the record's JSON shows it):
PostgreSQL cannot store NUL in text, and a record whose key holds one must still become a dead letter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select

from batchsync.state.tables import dead_letters, storable_text
from batchsync.timestamps import is_before, stamp

_KEYS_PER_STATEMENT = 500


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: str | None
    record_json: str
    error: str
    row_key: Any = None
    """The record's primary key converted to the column's type, when it converts: the row it names is
    still in the source, so on_missing must not delete it (None: no row to protect)."""


def add(
    connection: Connection, pipeline: str, run_id: str, letters: Sequence[DeadLetter], now: datetime
) -> None:
    keyed = [letter.key for letter in letters if letter.key is not None]
    resolve(connection, pipeline, keyed)
    connection.execute(
        insert(dead_letters),
        [
            {
                "pipeline": pipeline,
                "run_id": run_id,
                "key": None if letter.key is None else storable_text(letter.key),
                "record": letter.record_json,  # JSON: a NUL is already written \\u0000
                "error": storable_text(letter.error),
                "created_at": stamp(now),
            }
            for letter in letters
        ],
    )


def resolve(connection: Connection, pipeline: str, keys: Iterable[str]) -> int:
    """Remove the entries of keys that now synced (or failed anew); returns how many went."""
    unique = list(dict.fromkeys(storable_text(key) for key in keys))
    removed = 0
    for start in range(0, len(unique), _KEYS_PER_STATEMENT):
        chunk = unique[start : start + _KEYS_PER_STATEMENT]
        result = connection.execute(
            delete(dead_letters).where(dead_letters.c.pipeline == pipeline, dead_letters.c.key.in_(chunk))
        )
        removed += result.rowcount
    return removed


def remove_older_than(connection: Connection, pipeline: str, moment: datetime) -> int:
    """After a complete full pass every record was processed again: older entries are settled."""
    result = connection.execute(
        delete(dead_letters).where(
            dead_letters.c.pipeline == pipeline, is_before(dead_letters.c.created_at, moment)
        )
    )
    return result.rowcount


def count(connection: Connection, pipeline: str) -> int:
    query = select(func.count()).select_from(dead_letters).where(dead_letters.c.pipeline == pipeline)
    return int(connection.execute(query).scalar_one())


def recent(
    connection: Connection, pipeline: str, limit: int = 100, *, before_id: int | None = None
) -> Sequence[RowMapping]:
    """Newest first; `before_id` pages on from the last entry of an earlier page."""
    query = (
        select(dead_letters)
        .where(dead_letters.c.pipeline == pipeline)
        .order_by(dead_letters.c.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(dead_letters.c.id < before_id)
    return connection.execute(query).mappings().all()


def as_dict(row: RowMapping) -> dict[str, Any]:
    return {str(name): value for name, value in row.items()}
