"""SQLite upserts: look up the batch's stored hashes, then one `INSERT … ON CONFLICT DO UPDATE` for the
rows that are new or changed.

Reading the hashes first (inside the same `BEGIN IMMEDIATE` transaction, so nothing can change between
the read and the write) gives exact created / updated / unchanged counts and leaves unchanged rows
untouched. Values are bound as SQLite's native types directly, skipping per-value type processing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Connection, Table

from batchsync import jsontext
from batchsync.config import DestinationConfig
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
from batchsync.timestamps import stamp

# SQLite before 3.32 allows 999 bound parameters per statement; stay under it everywhere.
_KEYS_PER_LOOKUP = 500


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _bind_for(type_name: str) -> Callable[[Any], Any] | None:
    """How a value (never None) of a configured type is bound, for upserts and updates alike. A datetime
    is the value's own ISO text (data, compared as data), not batchsync's stamp() of its own moments."""
    if type_name == "decimal":
        return str
    if type_name == "datetime":
        return _iso_text
    if type_name == "boolean":
        return int
    if type_name == "json":
        return functools.partial(jsontext.dumps, sort_keys=True)
    return None


def _iso_text(moment: datetime) -> str:
    """`moment.isoformat()`, in a third of the time for the UTC moments the mapper gives: orjson writes
    those in the same form, RFC 3339 with `+00:00` and microseconds only when there are some (checked
    against `isoformat` in tests/sinks/test_sqlite_binds.py)."""
    if moment.tzinfo is UTC:
        return orjson.dumps(moment)[1:-1].decode()
    return moment.isoformat()


_OUT_OF_RANGE_REASON = (
    "is beyond what SQLite keeps in a decimal column (a double: up to about 1.8E+308, and not so near 0 "
    "that it rounds to 0); PostgreSQL keeps it exactly, or map the column as a string"
)


# A Decimal whose leading digit is within 10**±307 is a finite, non-zero double: no conversion needed to
# know it fits, and nearly every value is such a one.
_SURELY_A_DOUBLE = range(-307, 308)


def _beyond_a_double(value: Any) -> bool:
    if not isinstance(value, Decimal) or not value.is_finite():
        return False
    if value.adjusted() in _SURELY_A_DOUBLE:
        return False
    as_double = float(value)
    return math.isinf(as_double) or (as_double == 0.0 and value != 0)


RowBinder = Callable[..., tuple[Any, ...]]
"""`bind(values, *tail)`: a row's values as SQLite takes them, followed by `tail`."""


def _compile_binder(binds: Sequence[Callable[[Any], Any] | None]) -> RowBinder:
    """One function that binds every value of a row (`_bind_for` per column, None staying None) and
    appends the statement's other parameters, written out as source as `mapping.compile_row_reader` is:
    one call per row instead of a loop over the columns that need it. For the demo's columns, in part:

        def bind(values, *tail):
            v0, v1, v2, v3, v4, v5, v6, v7 = values
            return (v0, v1, v2, None if v3 is None else bind_3(v3), v4, ..., *tail,)
    """
    namespace: dict[str, Any] = {}
    names = [f"v{i}" for i in range(len(binds))]
    bound: list[str] = []
    for i, (v, bind) in enumerate(zip(names, binds, strict=True)):
        if bind is None:
            bound.append(v)
        else:
            namespace[f"bind_{i}"] = bind
            bound.append(f"None if {v} is None else bind_{i}({v})")
    unpack = f"    {', '.join(names)}, = values\n" if names else ""
    source = f"def bind(values, *tail):\n{unpack}    return ({''.join(f'{b}, ' for b in bound)}*tail,)\n"
    exec(compile(source, "<batchsync sqlite binder>", "exec"), namespace)
    binder: RowBinder = namespace["bind"]
    return binder


RowsBinder = Callable[[Sequence[MappedRow], str], list[tuple[Any, ...]]]
"""`bind_rows(rows, now)`: each row's values as SQLite takes them, then its hash and `now`."""


def _compile_rows_binder(binds: Sequence[Callable[[Any], Any] | None]) -> RowsBinder:
    """`_compile_binder`'s binding for a whole batch of rows in one comprehension, for the upsert: the
    values and the hash taken apart in the loop's own target, so a row costs no call of its own and no
    field looked up by name. For the demo's columns, in part:

        def bind_rows(rows, now):
            return [(v0, v1, v2, None if v3 is None else bind_3(v3), ..., content_hash, now,)
                    for _key, (v0, v1, v2, v3, v4, v5, v6, v7,), content_hash, _record in rows]
    """
    assert MappedRow._fields == ("key", "values", "content_hash", "record"), "the loop's target below"
    namespace: dict[str, Any] = {}
    names = [f"v{i}" for i in range(len(binds))]
    bound: list[str] = []
    for i, (v, bind) in enumerate(zip(names, binds, strict=True)):
        if bind is None:
            bound.append(v)
        else:
            namespace[f"bind_{i}"] = bind
            bound.append(f"None if {v} is None else bind_{i}({v})")
    values = f"({''.join(f'{v}, ' for v in names)})" if names else "_values"
    source = (
        "def bind_rows(rows, now):\n"
        f"    return [({''.join(f'{b}, ' for b in bound)}content_hash, now,)\n"
        f"            for _key, {values}, content_hash, _record in rows]\n"
    )
    exec(compile(source, "<batchsync sqlite rows binder>", "exec"), namespace)
    bind_rows: RowsBinder = namespace["bind_rows"]
    return bind_rows


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqliteSink:
    def __init__(self, destination: DestinationConfig) -> None:
        self._table = destination_table(destination)
        binds = [_bind_for(column.type) for column in destination.columns.values()]
        self._names = list(destination.columns)
        self._decimal_at = [
            i for i, column in enumerate(destination.columns.values()) if column.type == "decimal"
        ]
        self._bind = _compile_binder(binds)
        self._bind_rows = _compile_rows_binder(binds)
        table = _quote(destination.table)
        key = _quote(destination.primary_key)
        names = [*destination.columns, HASH_COLUMN, SYNCED_AT_COLUMN, SEEN_AT_COLUMN, DELETED_AT_COLUMN]
        updates = ", ".join(
            f"{_quote(n)} = excluded.{_quote(n)}" for n in names if n != destination.primary_key
        )
        # The row's values, its hash, and the moment it is written, both its sync and its seen time; never
        # deleted. Numbered, so that moment is bound once (each parameter bound costs, for every row).
        at = f"?{len(destination.columns) + 2}"
        values = [*(f"?{i}" for i in range(1, len(destination.columns) + 2)), at, at, "NULL"]
        self._upsert_sql = (
            f"INSERT INTO {table} ({', '.join(map(_quote, names))}) VALUES ({', '.join(values)}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates} "
            f"WHERE {table}.{_quote(HASH_COLUMN)} IS NOT excluded.{_quote(HASH_COLUMN)}"
        )
        self._lookup_sql = f"SELECT {key}, {_quote(HASH_COLUMN)} FROM {table} WHERE {key} IN "
        seen, deleted = _quote(SEEN_AT_COLUMN), _quote(DELETED_AT_COLUMN)
        self._seen_sql = f"UPDATE {table} SET {seen} = ?, {deleted} = NULL WHERE {key} IN "
        not_seen = f"({seen} IS NULL OR {seen} < ?)"
        self._soft_delete_sql = f"UPDATE {table} SET {deleted} = ? WHERE {deleted} IS NULL AND {not_seen}"
        self._delete_sql = f"DELETE FROM {table} WHERE {not_seen}"
        self._columns = ColumnsMapper(destination.columns)  # compares stored values with new ones
        columns = ", ".join(map(_quote, destination.columns))
        self._stored_values_sql = f"SELECT {key}, {columns} FROM {table} WHERE {key} IN "
        assignments = ", ".join(f"{_quote(name)} = ?" for name in destination.columns)
        self._update_sql = f"UPDATE {table} SET {assignments}, {seen} = ? WHERE {key} = ?"
        self._touch_sql = f"UPDATE {table} SET {seen} = ? WHERE {key} IN "

    @property
    def table(self) -> Table:
        return self._table

    def write(
        self,
        connection: Connection,
        rows: Sequence[MappedRow],
        synced_at: datetime,
        *,
        isolate_refusals: bool = True,  # noqa: ARG002 (SQLite undoes a refused statement only: no cost)
    ) -> WriteOutcome:
        unique, unstorable = self._set_aside_out_of_range(last_row_per_key(rows))
        outcome = self._write_storable(connection, unique, synced_at)
        return WriteOutcome(outcome.counts, [*unstorable, *outcome.rejected])

    def _set_aside_out_of_range(
        self, rows: list[MappedRow]
    ) -> tuple[list[MappedRow], list[tuple[MappedRow, str]]]:
        """The rows SQLite can store, and the others with why: a decimal beyond a double's range. SQLite's
        NUMERIC affinity would turn it into inf, or into 0 when it is that near zero, without a word."""
        if not self._decimal_at:
            return rows, []
        storable: list[MappedRow] = []
        unstorable: list[tuple[MappedRow, str]] = []
        for row in rows:
            for index in self._decimal_at:
                value = row.values[index]
                if value is not None and _beyond_a_double(value):
                    reason = f"column {self._names[index]}: {value} {_OUT_OF_RANGE_REASON}"
                    unstorable.append((row, reason))
                    break
            else:
                storable.append(row)
        return storable, unstorable

    def _write_storable(
        self, connection: Connection, unique: list[MappedRow], synced_at: datetime
    ) -> WriteOutcome:
        counts, changed, unchanged = self._split(connection, unique)
        now = stamp(synced_at)
        self._mark_seen(connection, unchanged, now)
        if not changed:
            return WriteOutcome(counts)
        parameters = self._bind_rows(changed, now)  # with the hash, and the moment (synced and seen at)
        try:
            # No savepoint needed: in SQLite a statement refused by a constraint or trigger undoes only
            # itself and the transaction goes on; replaying the batch row by row is then harmless, since
            # a row already written is rewritten with the same values.
            connection.exec_driver_sql(self._upsert_sql, parameters)
        except RowRefusedError:
            return self._write_row_by_row(connection, counts, changed, parameters)
        except DatabaseCallError as exc:
            raise SinkError(f"writing to {self._table.name} failed: {exc.reason}") from exc
        return WriteOutcome(counts)

    def _write_row_by_row(
        self, connection: Connection, counts: WriteCounts, changed: list[MappedRow], parameters: list[Any]
    ) -> WriteOutcome:
        """The database refused something in the batch: find which rows, write all the others."""
        rejected: list[tuple[MappedRow, str]] = []
        for row, row_parameters in zip(changed, parameters, strict=True):
            try:
                with connection.begin_nested():
                    connection.exec_driver_sql(self._upsert_sql, row_parameters)
            except RowRefusedError as exc:
                rejected.append((row, f"the database refused the row: {exc.reason}"))
        if not rejected:
            return WriteOutcome(counts)
        refused = {row.key for row, _ in rejected}
        stored = self._stored_hashes(connection, list(refused))  # refused rows kept their old version
        created = sum(1 for key in refused if key not in stored)
        return WriteOutcome(
            WriteCounts(
                counts.created - created, counts.updated - (len(refused) - created), counts.unchanged
            ),
            rejected,
        )

    def classify(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        counts, _, _ = self._split(connection, last_row_per_key(rows))
        return counts

    def update_columns(
        self, connection: Connection, rows: Sequence[MappedRow], seen_at: datetime
    ) -> WriteCounts:
        changed, unchanged = self._split_updates(connection, rows)
        now = stamp(seen_at)
        if changed:
            parameters = [self._bind(row.values, now, row.key) for row in changed]
            connection.exec_driver_sql(self._update_sql, parameters)
        for chunk in _chunks(unchanged, _KEYS_PER_LOOKUP):  # only the moment they were seen moves
            sql = self._touch_sql + "(" + ",".join("?" * len(chunk)) + ")"
            connection.exec_driver_sql(sql, (now, *chunk))
        return WriteCounts(updated=len(changed), unchanged=len(unchanged))

    def classify_updates(self, connection: Connection, rows: Sequence[MappedRow]) -> WriteCounts:
        changed, unchanged = self._split_updates(connection, rows)
        return WriteCounts(updated=len(changed), unchanged=len(unchanged))

    def _split_updates(
        self, connection: Connection, rows: Sequence[MappedRow]
    ) -> tuple[list[MappedRow], list[Any]]:
        unique = last_row_per_key(rows)
        stored: dict[Any, tuple[Any, ...]] = {}
        for chunk in _chunks([row.key for row in unique], _KEYS_PER_LOOKUP):
            sql = self._stored_values_sql + "(" + ",".join("?" * len(chunk)) + ")"
            stored.update((row[0], tuple(row[1:])) for row in connection.exec_driver_sql(sql, tuple(chunk)))
        return split_updates(unique, stored, self._columns)

    def mark_missing(
        self, connection: Connection, seen_before: datetime, *, delete: bool, now: datetime
    ) -> int:
        """After a complete pass: soft-delete (or delete) the rows that pass did not see. Returns how many."""
        try:
            if delete:
                result = connection.exec_driver_sql(self._delete_sql, (stamp(seen_before),))
            else:
                result = connection.exec_driver_sql(self._soft_delete_sql, (stamp(now), stamp(seen_before)))
        except DatabaseCallError as exc:
            raise SinkError(f"marking missing rows of {self._table.name} failed: {exc.reason}") from exc
        return int(result.rowcount)

    def mark_seen(self, connection: Connection, keys: list[Any], seen_at: datetime) -> None:
        """Record that a sync saw these keys (rows that exist) without writing their content."""
        self._mark_seen(connection, keys, stamp(seen_at))

    def _mark_seen(self, connection: Connection, keys: list[Any], now: str) -> None:
        """Unchanged rows keep their content; only the moment they were last seen moves."""
        try:
            for chunk in _chunks(keys, _KEYS_PER_LOOKUP):
                sql = self._seen_sql + "(" + ",".join("?" * len(chunk)) + ")"
                connection.exec_driver_sql(sql, (now, *chunk))
        except DatabaseCallError as exc:
            raise SinkError(f"writing to {self._table.name} failed: {exc.reason}") from exc

    def _split(
        self, connection: Connection, rows: list[MappedRow]
    ) -> tuple[WriteCounts, list[MappedRow], list[Any]]:
        stored = self._stored_hashes(connection, [row.key for row in rows])
        created = updated = 0
        changed: list[MappedRow] = []
        unchanged: list[Any] = []
        for row in rows:
            previous = stored.get(row.key)
            if previous is None:
                created += 1
                changed.append(row)
            elif previous != row.content_hash:
                updated += 1
                changed.append(row)
            else:
                unchanged.append(row.key)
        return WriteCounts(created, updated, len(unchanged)), changed, unchanged

    def _stored_hashes(self, connection: Connection, keys: list[Any]) -> dict[Any, str]:
        stored: dict[Any, str] = {}
        try:
            for chunk in _chunks(keys, _KEYS_PER_LOOKUP):
                sql = self._lookup_sql + "(" + ",".join("?" * len(chunk)) + ")"
                stored.update(tuple(row) for row in connection.exec_driver_sql(sql, tuple(chunk)))
        except DatabaseCallError as exc:
            raise SinkError(f"reading {self._table.name} failed: {exc.reason}") from exc
        return stored
