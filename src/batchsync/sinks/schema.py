"""The destination table, derived from `destination.columns`, plus batchsync's bookkeeping columns.

`_batchsync_hash` holds a digest of the row's content, so a rerun can tell unchanged rows from updated
ones without comparing every column; `_batchsync_synced_at` is when the row's content was last written;
`_batchsync_seen_at` when a sync last saw the record (changed or not: staleness and delete detection read
it); `_batchsync_deleted_at` when a complete pass found the record gone (`on_missing: soft_delete`).

`_batchsync_seen_at` has no index. Every batch writes it on every row it sees, so an index on it costs a
second B-tree insert per row (a fifth of SQLite's write time, measured) and on PostgreSQL rules out HOT
updates when unchanged rows are only touched; what reads it (the end of a complete pass, `stats`) reads
most of the table anyway, and one scan per pass is cheaper than an index entry per row. Tables made by
earlier versions had one: `ensure_table` drops it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Double,
    Engine,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import CreateSchema
from sqlalchemy.types import NullType, TypeEngine

from batchsync.config import DestinationConfig
from batchsync.database import AddColumn
from batchsync.errors import ConfigError, DatabaseCallError, SinkError

log = logging.getLogger("batchsync.schema")

HASH_COLUMN = "_batchsync_hash"
SYNCED_AT_COLUMN = "_batchsync_synced_at"
SEEN_AT_COLUMN = "_batchsync_seen_at"
DELETED_AT_COLUMN = "_batchsync_deleted_at"


def _column_type(type_name: str) -> TypeEngine[Any]:
    # SQLite keeps JSON as TEXT: its JSON type name would get NUMERIC affinity and turn "5" into 5.
    types: dict[str, TypeEngine[Any]] = {
        "string": Text(),
        "integer": BigInteger(),
        "float": Double(),
        "decimal": Numeric(),
        "boolean": Boolean(),
        "datetime": DateTime(timezone=True),
        "json": JSON().with_variant(Text(), "sqlite").with_variant(JSONB(), "postgresql"),
    }
    return types[type_name]


def destination_table(destination: DestinationConfig, metadata: MetaData | None = None) -> Table:
    """The table a destination writes to. A lookup's is the user's own table, whose key is not among the
    columns batchsync sets: the key column is then declared untyped (its values are bound as read) and
    the table is found on the search_path, its `schema` ignored (docs/configuration.md says so)."""
    metadata = metadata or MetaData()
    key: list[Column[Any]] = []
    schema = destination.db_schema
    if destination.primary_key not in destination.columns:
        key, schema = [Column(destination.primary_key, NullType(), primary_key=True)], None
    columns = key + [
        Column(
            name,
            _column_type(column.type),
            primary_key=name == destination.primary_key,
            nullable=name != destination.primary_key,
        )
        for name, column in destination.columns.items()
    ]
    return Table(destination.table, metadata, *columns, *_bookkeeping_columns(), schema=schema)


def _bookkeeping_columns() -> list[Column[Any]]:
    return [
        Column(HASH_COLUMN, String(32), nullable=False),
        Column(SYNCED_AT_COLUMN, DateTime(timezone=True), nullable=False),
        Column(SEEN_AT_COLUMN, DateTime(timezone=True)),
        Column(DELETED_AT_COLUMN, DateTime(timezone=True)),
    ]


def ensure_table(engine: Engine, table: Table, destination: DestinationConfig) -> list[str]:
    """Create the table, or evolve an existing one: add configured columns it lacks (and bookkeeping
    columns an older batchsync did not make). A removed column is left in place; a column whose type no
    longer matches raises ConfigError with the migration to run. Returns the columns added."""
    try:
        with engine.begin() as connection:  # one connection: SQLite allows one writer at a time
            if connection.dialect.name == "postgresql":
                # Concurrent runs (a fan-out's children, two processes) would each see no table and each
                # CREATE it; one would fail. Taking turns per table, the later ones find it made.
                key = f"batchsync table {table.schema or ''}.{table.name}"
                connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))
            if table.schema is not None and not inspect(connection).has_schema(table.schema):
                connection.execute(CreateSchema(table.schema, if_not_exists=True))
            table.create(connection, checkfirst=True)
            existing = {
                column["name"]: column["type"]
                for column in inspect(connection).get_columns(table.name, schema=table.schema)
            }
            check_types(engine, table, destination, existing)
            added = []
            for column in table.columns:
                if column.name not in existing:
                    connection.execute(AddColumn(table, column))
                    added.append(column.name)
            _drop_old_seen_at_index(connection, table)
    except DatabaseCallError as exc:
        raise SinkError(f"cannot create or update table {table.name}: {exc.reason}") from exc
    user_columns = [name for name in added if not name.startswith("_batchsync_")]
    if user_columns:
        log.warning(
            "added column(s) %s to %s; every row counts as updated once", ", ".join(user_columns), table.name
        )
    return added


def _drop_old_seen_at_index(connection: Connection, table: Table) -> None:
    """Drop the index earlier versions made on `_batchsync_seen_at` (see the module's docstring). Only
    batchsync's own, by the name SQLAlchemy gave it: an index a user made there is theirs to keep."""
    prefix = "_".join(filter(None, ("ix", table.schema, table.name))) + "_"
    for index in inspect(connection).get_indexes(table.name, schema=table.schema):
        name = index["name"]
        if index["column_names"] == [SEEN_AT_COLUMN] and name == prefix + SEEN_AT_COLUMN:
            preparer = connection.dialect.identifier_preparer
            qualified = (
                preparer.quote(name)
                if table.schema is None
                else f"{preparer.quote_schema(table.schema)}.{preparer.quote(name)}"
            )
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {qualified}")
            log.info("dropped index %s: batchsync no longer keeps one on %s", name, SEEN_AT_COLUMN)


def ensure_seen_at_column(engine: Engine, table: Table) -> None:
    """Give a table batchsync does not own (a lookup's) the `_batchsync_seen_at` column, of the type a
    pull's table has. Earlier versions added it as TEXT: on PostgreSQL that column is converted to
    `timestamptz` (its texts are batchsync's own ISO stamps, which PostgreSQL reads as they are);
    SQLite keeps every timestamp as text anyway. Raises DatabaseCallError."""
    seen_at = table.c[SEEN_AT_COLUMN]
    with engine.begin() as connection:
        existing = {
            column["name"]: column["type"]
            for column in inspect(connection).get_columns(table.name, schema=table.schema)
        }
        if SEEN_AT_COLUMN not in existing:
            connection.execute(AddColumn(table, seen_at))
        elif connection.dialect.name == "postgresql" and isinstance(existing[SEEN_AT_COLUMN], String):
            preparer = connection.dialect.identifier_preparer
            name, wanted = preparer.quote(SEEN_AT_COLUMN), seen_at.type.compile(dialect=connection.dialect)
            connection.exec_driver_sql(
                f"ALTER TABLE {preparer.format_table(table)} ALTER COLUMN {name} TYPE {wanted} "
                f"USING {name}::{wanted}"
            )


# How a configured type shows in the database's own type names (SQLite's declared types, PostgreSQL's).
_TYPE_FAMILIES = {
    "string": ("CHAR", "TEXT", "CLOB", "STRING"),
    "integer": ("INT",),
    "float": ("REAL", "FLOA", "DOUB"),
    "decimal": ("NUMERIC", "DECIMAL"),
    "boolean": ("BOOL",),
    "datetime": ("DATETIME", "TIMESTAMP"),
    "json": ("JSON", "TEXT"),
}


def check_types(
    engine: Engine, table: Table, destination: DestinationConfig, existing: dict[str, Any]
) -> None:
    """ConfigError naming the migration when a configured column's type differs from the table's."""
    for name, column in destination.columns.items():
        if name not in existing:
            continue
        stored = str(existing[name]).upper()
        if any(family in stored for family in _TYPE_FAMILIES[column.type]):
            continue
        wanted = table.c[name].type.compile(dialect=engine.dialect)
        # Quoted as the statements batchsync runs are, and schema-qualified, so it can be pasted as it is.
        preparer = engine.dialect.identifier_preparer
        qualified, column_name = preparer.format_table(table), preparer.quote(name)
        if engine.dialect.name == "postgresql":
            migration = (
                f"ALTER TABLE {qualified} ALTER COLUMN {column_name} TYPE {wanted} "
                f"USING {column_name}::{wanted}"
            )
        else:  # SQLite cannot change a column's type: drop it, and the next run adds and refills it
            migration = f"ALTER TABLE {qualified} DROP COLUMN {column_name}"
        raise ConfigError(
            f"column {name} of {table.name} is {stored} in the database but {column.type} in the config; "
            f"migrate it first: {migration}"
        )


def table_exists(bind: Engine | Connection, name: str, schema: str | None = None) -> bool:
    """Pass the open connection when there is one: a second connection per caller can empty the pool
    under concurrent callers (the control API's requests), and on SQLite it waits for the first's lock."""
    return inspect(bind).has_table(name, schema=schema)
