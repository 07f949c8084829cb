"""The `batchsync_*` tables, declared once with SQLAlchemy Core so every dialect gets the same shape."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
)
from sqlalchemy.exc import SQLAlchemyError

from batchsync.database import AddColumn
from batchsync.errors import SinkError

metadata = MetaData()

checkpoints = Table(
    "batchsync_checkpoints",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("state", Text, nullable=False),  # the Checkpoint as JSON: see state/checkpoints.py
    Column("updated_at", String(40), nullable=False),
)

runs = Table(
    "batchsync_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("pipeline", String(200), nullable=False, index=True),
    Column("trigger", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", String(40), nullable=False, index=True),
    Column("finished_at", String(40)),
    Column("duration_seconds", Double),
    Column("api_calls", Integer, nullable=False, default=0, server_default="0"),
    Column("retries", Integer, nullable=False, default=0, server_default="0"),
    Column("pages", Integer, nullable=False, default=0, server_default="0"),
    Column("created", Integer, nullable=False, default=0, server_default="0"),
    Column("updated", Integer, nullable=False, default=0, server_default="0"),
    Column("unchanged", Integer, nullable=False, default=0, server_default="0"),
    Column("deleted", Integer, nullable=False, default=0, server_default="0"),
    Column("failed", Integer, nullable=False, default=0, server_default="0"),
    Column("is_pass_complete", Boolean, nullable=False, default=False),
    Column("error", Text),
    Column("details", Text),  # JSON: warnings and error_details
    Column("host", String(255)),
    Column("pid", Integer),
)


leases = Table(
    "batchsync_leases",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("heartbeat_at", String(40), nullable=False),
)

dead_letters = Table(
    "batchsync_errors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(200), nullable=False, index=True),
    Column("run_id", String(36), nullable=False),
    Column("key", Text),  # None when the record had no usable primary key
    Column("record", Text, nullable=False),  # the raw record as JSON, secrets redacted
    Column("error", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)


def ensure_state_tables(engine: Engine) -> None:
    """Create batchsync's tables, and add the columns a newer version introduced to existing ones."""
    try:
        with engine.begin() as connection:  # one connection: SQLite allows one writer at a time
            metadata.create_all(connection, checkfirst=True)
            inspector = inspect(connection)
            for table in metadata.sorted_tables:
                existing = {column["name"] for column in inspector.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in existing:
                        connection.execute(AddColumn(table, column))
    except SQLAlchemyError as exc:
        raise SinkError(f"cannot create batchsync's tables: {getattr(exc, 'orig', exc)}") from exc
