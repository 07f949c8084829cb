"""The destination table, derived from `destination.columns`, plus batchsync's bookkeeping columns.

`_batchsync_hash` holds a digest of the row's content, so a rerun can tell unchanged rows from updated
ones without comparing every column; `_batchsync_synced_at` is when the row's content was last written;
`_batchsync_seen_at` when a sync last saw the record (changed or not: staleness and delete detection read
it); `_batchsync_deleted_at` when a complete pass found the record gone (`on_missing: soft_delete`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Engine,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from batchsync.config import DestinationConfig
from batchsync.errors import SinkError

HASH_COLUMN = "_batchsync_hash"
SYNCED_AT_COLUMN = "_batchsync_synced_at"
SEEN_AT_COLUMN = "_batchsync_seen_at"
DELETED_AT_COLUMN = "_batchsync_deleted_at"


def stamp(moment: datetime) -> str:
    """The one text form of batchsync's timestamps (UTC, always with microseconds), so they sort as text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _column_type(type_name: str) -> TypeEngine[Any]:
    # SQLite keeps JSON as TEXT: its JSON type name would get NUMERIC affinity and turn "5" into 5.
    types: dict[str, TypeEngine[Any]] = {
        "string": Text(),
        "integer": BigInteger(),
        "float": Double(),
        "decimal": Numeric(),
        "boolean": Boolean(),
        "datetime": DateTime(timezone=True),
        "json": JSON().with_variant(Text(), "sqlite"),
    }
    return types[type_name]


def destination_table(destination: DestinationConfig, metadata: MetaData | None = None) -> Table:
    metadata = metadata or MetaData()
    columns = [
        Column(
            name,
            _column_type(column.type),
            primary_key=name == destination.primary_key,
            nullable=name != destination.primary_key,
        )
        for name, column in destination.columns.items()
    ]
    return Table(destination.table, metadata, *columns, *_bookkeeping_columns())


def _bookkeeping_columns() -> list[Column[Any]]:
    return [
        Column(HASH_COLUMN, String(32), nullable=False),
        Column(SYNCED_AT_COLUMN, DateTime(timezone=True), nullable=False),
        Column(SEEN_AT_COLUMN, DateTime(timezone=True), index=True),
        Column(DELETED_AT_COLUMN, DateTime(timezone=True)),
    ]


def ensure_table(engine: Engine, table: Table) -> None:
    """Create the table when it is missing, and add bookkeeping columns an older batchsync did not make
    (never a user column: see check_columns). Raises SinkError when the database refuses."""
    try:
        with engine.begin() as connection:  # one connection: SQLite allows one writer at a time
            table.create(connection, checkfirst=True)
            existing = {column["name"] for column in inspect(connection).get_columns(table.name)}
            for column in table.columns:
                if column.name.startswith("_batchsync_") and column.name not in existing:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.exec_driver_sql(
                        f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'
                    )
    except SQLAlchemyError as exc:
        raise SinkError(f"cannot create table {table.name}: {getattr(exc, 'orig', exc)}") from exc


def check_columns(engine: Engine, table: Table) -> None:
    """Raise SinkError, with the statements to run, when the existing table lacks configured columns.

    batchsync does not alter existing tables yet; saying exactly what to add beats failing mid-run with
    "no such column".
    """
    existing = {column["name"] for column in inspect(engine).get_columns(table.name)}
    missing = [column for column in table.columns if column.name not in existing]
    if missing:
        statements = "; ".join(
            f"ALTER TABLE {table.name} ADD COLUMN {column.name} {column.type.compile(dialect=engine.dialect)}"
            for column in missing
        )
        names = ", ".join(column.name for column in missing)
        raise SinkError(f"table {table.name} has no column {names} that the config lists; run: {statements}")


def table_exists(engine: Engine, name: str) -> bool:
    return inspect(engine).has_table(name)
