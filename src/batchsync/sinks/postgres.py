"""PostgreSQL upserts: one `INSERT … ON CONFLICT … DO UPDATE … WHERE <content changed> RETURNING` per batch.

The counts come from the database itself: the statement returns the rows it inserted or updated, with
`xmax = 0` telling an insert from an update; every other row of the batch was unchanged and is only
marked as seen. PostgreSQL aborts a transaction on any error, so the batch runs in a savepoint: a row the
database refuses is then found row by row, each in its own savepoint, and the rest are still written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, literal_column, or_, select, update
from sqlalchemy import delete as delete_rows
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from batchsync.config import DestinationConfig
from batchsync.errors import SinkError
from batchsync.models import WriteCounts
from batchsync.sinks.base import WriteOutcome, last_row_per_key
from batchsync.sinks.mapping import MappedRow
from batchsync.sinks.schema import (
    DELETED_AT_COLUMN,
    HASH_COLUMN,
    SEEN_AT_COLUMN,
    SYNCED_AT_COLUMN,
    destination_table,
)

_KEYS_PER_STATEMENT = 1000


class PostgresSink:
    def __init__(self, destination: DestinationConfig) -> None:
        self._table = destination_table(destination)
        self._names = list(destination.columns)
        self._key = self._table.c[destination.primary_key]
        excluded = insert(self._table).excluded
        changing = [*self._names, HASH_COLUMN, SYNCED_AT_COLUMN, SEEN_AT_COLUMN, DELETED_AT_COLUMN]
        self._upsert = (
            insert(self._table)
            .on_conflict_do_update(
                index_elements=[self._key],
                set_={name: excluded[name] for name in changing if name != destination.primary_key},
                where=self._table.c[HASH_COLUMN].is_distinct_from(excluded[HASH_COLUMN]),
            )
            .returning(self._key, literal_column("xmax = 0").label("inserted"))
        )

    @property
    def table(self) -> Table:
        return self._table

    def write(self, connection: Connection, rows: Sequence[MappedRow], synced_at: datetime) -> WriteOutcome:
        unique = last_row_per_key(rows)
        if not unique:
            return WriteOutcome(WriteCounts())
        try:
            with connection.begin_nested():
                returned = connection.execute(
                    self._upsert, [self._values(row, synced_at) for row in unique]
                ).all()
        except (IntegrityError, DataError):
            return self._write_row_by_row(connection, unique, synced_at)
        except SQLAlchemyError as exc:
            raise SinkError(f"writing to {self._table.name} failed: {getattr(exc, 'orig', exc)}") from exc
        return WriteOutcome(self._settle(connection, unique, returned, synced_at))

    def classify(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        unique = last_row_per_key(rows)
        stored = self._stored_hashes(connection, [row.key for row in unique])
        created = sum(1 for row in unique if row.key not in stored)
        updated = sum(1 for row in unique if row.key in stored and stored[row.key] != row.content_hash)
        return WriteCounts(created, updated, len(unique) - created - updated)

    def mark_seen(self, connection: Connection, keys: list[Any], seen_at: datetime) -> None:
        table = self._table
        for start in range(0, len(keys), _KEYS_PER_STATEMENT):
            chunk = keys[start : start + _KEYS_PER_STATEMENT]
            connection.execute(
                update(table)
                .where(self._key.in_(chunk))
                .values({SEEN_AT_COLUMN: seen_at, DELETED_AT_COLUMN: None})
            )

    def mark_missing(
        self, connection: Connection, seen_before: datetime, *, delete: bool, now: datetime
    ) -> int:
        table = self._table
        not_seen = or_(table.c[SEEN_AT_COLUMN].is_(None), table.c[SEEN_AT_COLUMN] < seen_before)
        try:
            if delete:
                result = connection.execute(delete_rows(table).where(not_seen))
            else:
                result = connection.execute(
                    update(table)
                    .where(not_seen, table.c[DELETED_AT_COLUMN].is_(None))
                    .values({DELETED_AT_COLUMN: now})
                )
        except SQLAlchemyError as exc:
            raise SinkError(
                f"marking missing rows of {table.name} failed: {getattr(exc, 'orig', exc)}"
            ) from exc
        return int(result.rowcount)

    def _settle(
        self, connection: Connection, unique: list[MappedRow], returned: Sequence[Any], synced_at: datetime
    ) -> WriteCounts:
        written = {row[0] for row in returned}
        created = sum(1 for row in returned if row[1])
        self.mark_seen(connection, [row.key for row in unique if row.key not in written], synced_at)
        return WriteCounts(created, len(written) - created, len(unique) - len(written))

    def _write_row_by_row(
        self, connection: Connection, unique: list[MappedRow], synced_at: datetime
    ) -> WriteOutcome:
        rejected: list[tuple[MappedRow, str]] = []
        returned: list[Any] = []
        accepted: list[MappedRow] = []
        for row in unique:
            try:
                with connection.begin_nested():
                    returned += connection.execute(self._upsert, [self._values(row, synced_at)]).all()
                accepted.append(row)
            except (IntegrityError, DataError) as exc:
                rejected.append((row, f"the database refused the row: {getattr(exc, 'orig', exc)}"))
        return WriteOutcome(self._settle(connection, accepted, returned, synced_at), rejected)

    def _stored_hashes(self, connection: Connection, keys: list[Any]) -> dict[Any, str]:
        stored: dict[Any, str] = {}
        for start in range(0, len(keys), _KEYS_PER_STATEMENT):
            chunk = keys[start : start + _KEYS_PER_STATEMENT]
            query = select(self._key, self._table.c[HASH_COLUMN]).where(self._key.in_(chunk))
            stored.update((key, content_hash) for key, content_hash in connection.execute(query))
        return stored

    def _values(self, row: MappedRow, synced_at: datetime) -> dict[str, Any]:
        values = dict(zip(self._names, row.values, strict=True))
        values[HASH_COLUMN] = row.content_hash
        values[SYNCED_AT_COLUMN] = synced_at
        values[SEEN_AT_COLUMN] = synced_at
        values[DELETED_AT_COLUMN] = None
        return values
