"""PostgreSQL upserts: one `INSERT … ON CONFLICT … DO UPDATE … WHERE <content changed> RETURNING` per
batch, fed by COPY into a temporary table when the batch is large.

COPY + `INSERT … SELECT` is several times faster than binding a batch of hundreds of rows as parameters,
but creating the temporary table costs a few milliseconds, so small batches bind their rows directly
(bench/postgres_upsert.py measures both). The counts come from the database itself: the statement
returns the rows it inserted or updated, with `xmax = 0` telling an insert from an update; every other
row of the batch was unchanged and is only marked as seen. PostgreSQL aborts a transaction on any error,
so the batch runs in a savepoint: a row the database refuses is then found row by row, each in its own
savepoint, and the rest are still written. Text holding a NUL byte, which PostgreSQL cannot store at all
(psycopg refuses it before sending), is set aside before the batch is sent, with a reason that says so.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import (
    Column,
    Connection,
    Insert,
    MetaData,
    Table,
    Update,
    bindparam,
    column,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy import delete as delete_rows
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.schema import CreateTable, DropTable

from batchsync import jsontext
from batchsync.config import ColumnType, DestinationConfig
from batchsync.database import database_errors
from batchsync.errors import DatabaseCallError, RowRefusedError, SinkError
from batchsync.models import WriteCounts
from batchsync.sinks.base import WriteOutcome, last_row_per_key, split_updates
from batchsync.sinks.mapping import ColumnsMapper, MappedRow
from batchsync.sinks.schema import (
    DELETED_AT_COLUMN,
    HASH_COLUMN,
    SEEN_AT_COLUMN,
    SYNCED_AT_COLUMN,
    destination_table,
)

_KEYS_PER_STATEMENT = 1000
# Below this, creating and dropping the stage table costs more than COPY saves (bench/postgres_upsert.py).
_COPY_MIN_ROWS = 100
_WRITTEN_BOOKKEEPING = (HASH_COLUMN, SYNCED_AT_COLUMN, SEEN_AT_COLUMN, DELETED_AT_COLUMN)

# The PostgreSQL type of a stage column holding each configured type (sinks/schema.py makes the stage's
# columns of these types), and of the bookkeeping columns: a binary COPY sends every value in its type's
# own binary form, which must be the column's.
_BINARY_TYPES: dict[ColumnType, str] = {
    "string": "text",
    "integer": "int8",
    "float": "float8",
    "decimal": "numeric",
    "boolean": "bool",
    "datetime": "timestamptz",
    "json": "jsonb",
}
_BOOKKEEPING_BINARY_TYPES = ("varchar", "timestamptz", "timestamptz", "timestamptz")

_NUL_REASON = "text contains a NUL byte, which PostgreSQL cannot store"


def _holds_nul(value: Any) -> bool:
    return isinstance(value, str) and "\x00" in value


def _stage_table(table: Table, names: list[str]) -> Table:
    """The temporary table a batch is copied into. It lives for one batch (dropped after the merge, gone
    with the savepoint when the batch fails, `ON COMMIT DROP` besides), so it never outlives a
    transaction, never meets a table whose columns changed, and suits transaction-mode poolers.

    Its columns have the configured types, not the destination's, so the merge converts each value into
    the destination's column exactly as a bound parameter of that type would be converted.
    """
    return Table(
        "_batchsync_stage",
        MetaData(),
        *(Column(name, table.c[name].type) for name in names),
        schema="pg_temp",  # never shadowed by, nor shadowing, a table of the search path
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


class PostgresSink:
    def __init__(self, destination: DestinationConfig) -> None:
        self._table = destination_table(destination)
        self._names = list(destination.columns)
        self._key = self._table.c[destination.primary_key]
        self._json_indexes = [i for i, c in enumerate(destination.columns.values()) if c.type == "json"]
        # Only these columns' values can be text (the other types convert to numbers, moments, booleans).
        self._text_indexes = [
            i for i, c in enumerate(destination.columns.values()) if c.type in ("string", "json")
        ]
        self._written = [*self._names, *_WRITTEN_BOOKKEEPING]
        self._stage = _stage_table(self._table, self._written)
        self._stage_sql: tuple[str, str] | None = None
        self._copy_sql = sql.SQL("COPY pg_temp._batchsync_stage ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.SQL(", ").join(sql.Identifier(name) for name in self._written)
        )
        self._copy_types = [
            *(_BINARY_TYPES[column.type] for column in destination.columns.values()),
            *_BOOKKEEPING_BINARY_TYPES,
        ]
        self._merge = self._upserting(insert(self._table).from_select(self._written, select(*self._stage.c)))
        self._upsert = self._upserting(insert(self._table))  # small batches, and rows of a refused one
        self._columns = ColumnsMapper(destination.columns)  # compares stored values with new ones
        # Read back as the driver gives them (no SQLAlchemy type processing), for `same_as_stored`.
        names = [self._key.name, *self._names]
        readable = table(self._table.name, *(column(name) for name in names), schema=self._table.schema)
        self._stored_values = select(*readable.c)
        self._stored_key = readable.c[self._key.name]
        # Bound through the table's typed columns, exactly as the upsert binds them.
        self._update_by_key = (
            update(self._table)
            .where(self._key == bindparam("_batchsync_key"))
            .values({name: bindparam(f"_new_{name}") for name in [*self._names, SEEN_AT_COLUMN]})
        )
        self._touch = update(self._table).values({SEEN_AT_COLUMN: bindparam("_new_seen_at")})

    @functools.cached_property
    def _mark_stage_seen(self) -> Update:
        """After a merge: the batch's unchanged rows, only seen. Built on first use (a lookup's sink,
        updating the user's table, never stages a batch, and its key is not among the columns)."""
        seen, deleted = self._table.c[SEEN_AT_COLUMN], self._table.c[DELETED_AT_COLUMN]
        return (
            update(self._table)
            .where(self._key == self._stage.c[self._key.name])
            .where(or_(seen.is_distinct_from(self._stage.c[SEEN_AT_COLUMN]), deleted.is_not(None)))
            .values({SEEN_AT_COLUMN: self._stage.c[SEEN_AT_COLUMN], DELETED_AT_COLUMN: None})
        )

    def _upserting(self, statement: PostgresInsert) -> Insert:
        """`statement` + ON CONFLICT: rewrite a row only when its content hash differs; return each row
        written with whether it was inserted (`xmax = 0`) or updated."""
        excluded = statement.excluded
        return statement.on_conflict_do_update(
            index_elements=[self._key],
            set_={name: excluded[name] for name in self._written if name != self._key.name},
            where=self._table.c[HASH_COLUMN].is_distinct_from(excluded[HASH_COLUMN]),
        ).returning(self._key, literal_column("xmax = 0").label("inserted"))

    @property
    def table(self) -> Table:
        return self._table

    def write(
        self,
        connection: Connection,
        rows: Sequence[MappedRow],
        synced_at: datetime,
        *,
        isolate_refusals: bool = True,
    ) -> WriteOutcome:
        unique, unstorable = self._set_aside_nul_text(last_row_per_key(rows))
        outcome = self._write_storable(connection, unique, synced_at, isolate_refusals=isolate_refusals)
        return WriteOutcome(outcome.counts, [*unstorable, *outcome.rejected])

    def _set_aside_nul_text(
        self, rows: list[MappedRow]
    ) -> tuple[list[MappedRow], list[tuple[MappedRow, str]]]:
        """The rows PostgreSQL can store, and the others with why: a NUL byte in any text value (the
        primary key included). Found here rather than by the driver, which would refuse the whole batch
        and leave the row-by-row search to find the row again, with a less telling message."""
        storable: list[MappedRow] = []
        unstorable: list[tuple[MappedRow, str]] = []
        for row in rows:
            for index in self._text_indexes:
                if _holds_nul(row.values[index]):
                    unstorable.append((row, f"column {self._names[index]}: {_NUL_REASON}"))
                    break
            else:
                storable.append(row)
        return storable, unstorable

    def _write_storable(
        self, connection: Connection, unique: list[MappedRow], synced_at: datetime, *, isolate_refusals: bool
    ) -> WriteOutcome:
        if not unique:
            return WriteOutcome(WriteCounts())
        try:
            if not isolate_refusals:  # no savepoint: a refusal ends the caller's transaction
                return WriteOutcome(self._upsert_all(connection, unique, synced_at))
            with connection.begin_nested():
                counts = self._upsert_all(connection, unique, synced_at)
        except RowRefusedError:  # a constraint, a trigger, a value out of range: find it row by row
            if not isolate_refusals:
                raise
            return self._write_row_by_row(connection, unique, synced_at)
        except DatabaseCallError as exc:
            raise SinkError(f"writing to {self._table.name} failed: {exc.reason}") from exc
        return WriteOutcome(counts)

    def _upsert_all(
        self, connection: Connection, unique: list[MappedRow], synced_at: datetime
    ) -> WriteCounts:
        """Write the rows in one statement (bound, or through the stage for a large batch); raises
        RowRefusedError when the database refuses any of them."""
        if len(unique) < _COPY_MIN_ROWS:
            parameters = [self._values(row, synced_at) for row in unique]
            returned = connection.execute(self._upsert, parameters).all()
            return self._settle(connection, unique, returned, synced_at)
        self._copy_to_stage(connection, unique, synced_at)
        return self._merge_stage(connection, len(unique))

    def classify(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        unique = last_row_per_key(rows)
        stored = self._stored_hashes(connection, [row.key for row in unique])
        created = sum(1 for row in unique if row.key not in stored)
        updated = sum(1 for row in unique if row.key in stored and stored[row.key] != row.content_hash)
        return WriteCounts(created, updated, len(unique) - created - updated)

    def update_columns(
        self, connection: Connection, rows: Sequence[MappedRow], seen_at: datetime
    ) -> WriteCounts:
        changed, unchanged = self._split_updates(connection, rows)
        if changed:
            parameters = [
                {
                    "_batchsync_key": row.key,
                    **{f"_new_{name}": value for name, value in zip(self._names, row.values, strict=True)},
                    f"_new_{SEEN_AT_COLUMN}": seen_at,
                }
                for row in changed
            ]
            connection.execute(self._update_by_key, parameters)
        for start in range(0, len(unchanged), _KEYS_PER_STATEMENT):  # only the moment they were seen moves
            chunk = unchanged[start : start + _KEYS_PER_STATEMENT]
            connection.execute(self._touch.where(self._key.in_(chunk)), {"_new_seen_at": seen_at})
        return WriteCounts(updated=len(changed), unchanged=len(unchanged))

    def classify_updates(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        changed, unchanged = self._split_updates(connection, rows)
        return WriteCounts(updated=len(changed), unchanged=len(unchanged))

    def _split_updates(
        self, connection: Connection, rows: Sequence[MappedRow]
    ) -> tuple[list[MappedRow], list[Any]]:
        unique = last_row_per_key(rows)
        keys = [row.key for row in unique]
        stored: dict[Any, tuple[Any, ...]] = {}
        for start in range(0, len(keys), _KEYS_PER_STATEMENT):
            query = self._stored_values.where(self._stored_key.in_(keys[start : start + _KEYS_PER_STATEMENT]))
            stored.update((row[0], tuple(row[1:])) for row in connection.execute(query))
        return split_updates(unique, stored, self._columns)

    def mark_seen(self, connection: Connection, keys: list[Any], seen_at: datetime) -> None:
        table = self._table
        keys = _storable_keys(keys)
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
        except DatabaseCallError as exc:
            raise SinkError(f"marking missing rows of {table.name} failed: {exc.reason}") from exc
        return int(result.rowcount)

    def _copy_to_stage(self, connection: Connection, unique: list[MappedRow], synced_at: datetime) -> None:
        """Create the temporary stage table and COPY the batch into it. Binary format: each value goes in
        its column type's binary form, written by psycopg's C dumpers, which the server reads without
        parsing text (for the demo's 12 columns, a third of the client's CPU and about half the server's
        of the text format, bench/postgres_upsert.py). JSON values go as JSON text, serialised as bound
        JSONB parameters are."""
        create, _ = self._stage_ddl(connection)
        connection.exec_driver_sql(create)
        driver = connection.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        # COPY runs on the psycopg connection itself, so its errors arrive unwrapped by SQLAlchemy.
        with database_errors(psycopg.Error), driver.cursor() as cursor, cursor.copy(self._copy_sql) as copy:
            copy.set_types(self._copy_types)
            bookkeeping = (synced_at, synced_at, None)  # synced at, seen at, not deleted
            for row in unique:
                values: Sequence[Any] = row.values
                if self._json_indexes:
                    values = list(values)
                    for index in self._json_indexes:
                        if values[index] is not None:
                            values[index] = Jsonb(values[index], dumps=jsontext.dumps)
                copy.write_row((*values, row.content_hash, *bookkeeping))

    def _stage_ddl(self, connection: Connection) -> tuple[str, str]:
        """The stage's CREATE and DROP as text, compiled on first use: SQLAlchemy caches no DDL, and
        compiling the CREATE TABLE cost about 0.3 ms a batch."""
        if self._stage_sql is None:
            dialect = connection.dialect
            self._stage_sql = (
                str(CreateTable(self._stage).compile(dialect=dialect)),
                str(DropTable(self._stage).compile(dialect=dialect)),
            )
        return self._stage_sql

    def _merge_stage(self, connection: Connection, batch_rows: int) -> WriteCounts:
        """Upsert the stage into the table in one statement, mark the rows it left alone as seen, drop
        the stage (so a second batch in the same transaction can create it again)."""
        returned = connection.execute(self._merge).all()
        if len(returned) < batch_rows:
            connection.execute(self._mark_stage_seen)  # the unchanged rows: nothing else is left unstamped
        _, drop = self._stage_ddl(connection)
        connection.exec_driver_sql(drop)
        created = sum(1 for _, inserted in returned if inserted)
        return WriteCounts(created, len(returned) - created, batch_rows - len(returned))

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
            except RowRefusedError as exc:
                rejected.append((row, f"the database refused the row: {exc.reason}"))
        return WriteOutcome(self._settle(connection, accepted, returned, synced_at), rejected)

    def _stored_hashes(self, connection: Connection, keys: list[Any]) -> dict[Any, str]:
        stored: dict[Any, str] = {}
        keys = _storable_keys(keys)
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


def _storable_keys(keys: list[Any]) -> list[Any]:
    """`keys` without those holding a NUL byte: no row can have one (PostgreSQL cannot store it), and
    binding one would fail the whole statement."""
    return [key for key in keys if not _holds_nul(key)]
