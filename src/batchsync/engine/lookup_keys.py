"""A lookup's keys table: the user's own table, checked once, then read in key order a batch at a time.

The config's `keys.where` and the CLI's `--filter` both narrow the keys, even on the same column; every
value is a bound parameter (sinks/where.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, and_, column, func, inspect, select, table

from batchsync.config import DestinationConfig, LookupSourceConfig, Where
from batchsync.database import database_errors
from batchsync.engine.options import KeyRange
from batchsync.errors import ConfigError, DatabaseCallError, SinkError
from batchsync.sinks.schema import destination_table, ensure_seen_at_column
from batchsync.sinks.where import where_clause


class LookupKeys:
    """The keys to refresh, in key order, after a given key (the checkpoint's cursor); `key_range`
    (after, last) narrows them to a shard: after `after` (None: from the first), up to `last` included."""

    def __init__(self, source: LookupSourceConfig, filters: Where, key_range: KeyRange | None = None) -> None:
        keys = source.keys
        self._table_name = keys.table
        self._table = table(keys.table, *(column(name) for name in {keys.column, *keys.where, *filters}))
        self._key = self._table.c[keys.column]
        self._filter = and_(where_clause(self._table, keys.where), where_clause(self._table, filters))
        if key_range is not None:
            after, last = key_range
            self._filter = and_(self._filter, self._key <= last)
            if after is not None:
                self._filter = and_(self._filter, self._key > after)

    def count_after(self, connection: Connection, after: Any) -> int:
        """How many keys are left after `after`, with the same filter as `next_after`: one COUNT, for
        the progress bar's total (keys added or removed meanwhile make it an estimate)."""
        query = select(func.count()).select_from(self._table).where(self._filter)
        if after is not None:
            query = query.where(self._key > after)
        try:
            with connection.begin():
                return int(connection.execute(query).scalar_one())
        except DatabaseCallError as exc:
            raise SinkError(f"counting keys in {self._table_name} failed: {exc.reason}") from exc

    def next_after(self, connection: Connection, after: Any, limit: int) -> list[Any]:
        """At most `limit` keys after `after` (None: from the first), in key order."""
        query = select(self._key).where(self._filter).order_by(self._key).limit(limit)
        if after is not None:
            query = query.where(self._key > after)
        try:
            with connection.begin():
                return list(connection.execute(query).scalars())
        except DatabaseCallError as exc:
            raise SinkError(f"reading keys from {self._table_name} failed: {exc.reason}") from exc


def prepare_lookup_table(
    engine: Engine, source: LookupSourceConfig, destination: DestinationConfig, dry_run: bool
) -> None:
    """The keys table must exist with the key and every listed column; batchsync adds only its
    `_batchsync_seen_at` column (how fresh each row is), typed as in a pull's table, converting one an
    earlier version made as text (sinks/schema.py). Raises ConfigError or SinkError."""
    name = source.keys.table
    try:
        with database_errors():  # reflection's own errors, besides the database's
            _check_keys_table(engine, source, destination, dry_run)
    except DatabaseCallError as exc:
        raise SinkError(f"preparing table {name} failed: {exc.reason}") from exc


def _check_keys_table(
    engine: Engine, source: LookupSourceConfig, destination: DestinationConfig, dry_run: bool
) -> None:
    """The keys table and its columns as `prepare_lookup_table` needs them (ConfigError if not)."""
    name = source.keys.table
    if not inspect(engine).has_table(name):
        raise ConfigError(f"source.keys.table: the table {name} does not exist")
    existing = {item["name"] for item in inspect(engine).get_columns(name)}
    needed = [source.keys.column, *destination.columns, *source.keys.where]
    missing = [item for item in needed if item not in existing]
    if missing:
        raise ConfigError(f"table {name} has no column {', '.join(missing)}")
    if not dry_run:
        ensure_seen_at_column(engine, destination_table(destination))
