"""The `batchsync_*` tables, declared once with SQLAlchemy Core so every dialect gets the same shape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.schema import CreateSchema

from batchsync.database import STATE_SCHEMA, AddColumn, state_schema_of
from batchsync.errors import DatabaseCallError, SinkError
from batchsync.timestamps import stamp

metadata = MetaData(schema=STATE_SCHEMA)  # mapped to the real schema by each engine


def storable_text(text: str) -> str:
    """`text` with a NUL byte written `\\u0000` (as JSON shows it): PostgreSQL cannot store NUL in text, and
    a key or a reason quoting hostile input may hold one."""
    return text.replace("\x00", "\\u0000")


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
    Column("filtered", Integer, nullable=False, default=0, server_default="0"),  # left out by record_filter
    Column("deleted", Integer, nullable=False, default=0, server_default="0"),
    Column("failed", Integer, nullable=False, default=0, server_default="0"),
    Column("is_pass_complete", Boolean, nullable=False, default=False, server_default=false()),
    Column("error", Text),
    Column("details", Text),  # JSON: warnings and error_details
    Column("host", String(255)),
    Column("pid", Integer),
    Column("process_start_ticks", BigInteger),  # with pid, names the process: see state/processes.py
    Column("cancel_requested_at", String(40)),  # set by `batchsync cancel` or the API: see state/cancels.py
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
    Column("process_start_ticks", BigInteger),  # None: written by batchsync 0.1, or no /proc on the host
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


schedule_ticks = Table(
    "batchsync_schedule_ticks",
    metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("scheduled_for", String(40), primary_key=True),  # the cron time, as stamp() writes it
    Column("fired_at", String(40), nullable=False),
    Column("outcome", String(20), nullable=False),  # claimed, started, skipped, refused: see state/ticks.py
    Column("run_id", String(36)),
    Column("reason", Text),
    Column("host", String(255)),
)


deliveries = Table(
    "batchsync_deliveries",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("target_key", String(64), primary_key=True),  # sha256 of the webhook URL: the URL is a secret
    Column("target", String(255), nullable=False),  # scheme://host, as shown
    Column("pipeline", String(200), nullable=False),
    Column("event", String(20), nullable=False),  # the run's status
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("last_status", Text),  # "200", "503", or why the request failed
    Column("delivered_at", String(40)),
    Column("next_attempt_at", String(40)),  # None once delivered, or given up after max_attempts
    Column("created_at", String(40), nullable=False),
)


units = Table(
    "batchsync_units",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("unit_id", String(300), primary_key=True),  # e.g. entity:acme, range:2024-01-01..2024-02-01
    Column("pipeline", String(200), nullable=False),
    Column("spec", Text, nullable=False),  # JSON: what the unit is (ids and bounds, never secrets)
    Column("status", String(20), nullable=False),  # queued, running, done, interrupted, failed
    Column("outcome", Text),  # JSON: see distributed/outcome.py
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("worker", String(300)),  # host and pid of the worker that last took it
    Column("queued_at", String(40), nullable=False),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
)


schema_version = Table(
    "batchsync_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", String(40), nullable=False),
)


def _migration_1_tables_as_of_0_1(connection: Connection) -> None:
    """batchsync 0.1's tables: create what is missing, and add the columns that databases made by its
    development builds (before versioning) lack."""
    metadata.create_all(connection, checkfirst=True)
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        existing = {
            column["name"]
            for column in inspector.get_columns(table.name, schema=state_schema_of(connection.engine))
        }
        for column in table.columns:
            if column.name not in existing:
                connection.execute(AddColumn(table, column))


def _migration_2_process_start_ticks(connection: Connection) -> None:
    """The holder's process start time beside its pid, in leases and run records, so a zombie or a
    recycled pid is never taken for a live run. Migration 1 declares today's tables, so on a database it
    created just now the columns are there already: add them only where missing."""
    inspector = inspect(connection)
    for table in (leases, runs):
        existing = {
            column["name"]
            for column in inspector.get_columns(table.name, schema=state_schema_of(connection.engine))
        }
        if "process_start_ticks" not in existing:
            connection.execute(AddColumn(table, table.c.process_start_ticks))


def _migration_3_filtered_count(connection: Connection) -> None:
    """How many records a run's record_filter left out, beside created/updated/unchanged. As with
    migration 2, a database migration 1 created just now has the column already."""
    _add_missing_column(connection, runs, runs.c.filtered)


def _add_missing_column(connection: Connection, table: Table, column: Column[Any]) -> None:
    existing = {
        found["name"]
        for found in inspect(connection).get_columns(table.name, schema=state_schema_of(connection.engine))
    }
    if column.name not in existing:
        connection.execute(AddColumn(table, column))


def _migration_4_cancel_requests(connection: Connection) -> None:
    """When someone asked a running run to stop (`batchsync cancel`, the control API): the run's own
    process reads it and stops at its next batch boundary."""
    _add_missing_column(connection, runs, runs.c.cancel_requested_at)


def _migration_5_schedule_ticks(connection: Connection) -> None:
    """The scheduler's ticks: one row per pipeline and scheduled time, claimed by the one `serve` that
    runs it (see state/ticks.py). Migration 1 creates it on a new database already."""
    schedule_ticks.create(connection, checkfirst=True)


def _migration_6_deliveries(connection: Connection) -> None:
    """Webhook deliveries of ended runs (see state/deliveries.py). Migration 1 creates it on a new
    database already."""
    deliveries.create(connection, checkfirst=True)


def _migration_7_units(connection: Connection) -> None:
    """The units of work a distributed run hands to Celery workers, and what each came to (see
    state/units.py). Migration 1 creates it on a new database already."""
    units.create(connection, checkfirst=True)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (
    _migration_1_tables_as_of_0_1,
    _migration_2_process_start_ticks,
    _migration_3_filtered_count,
    _migration_4_cancel_requests,
    _migration_5_schedule_ticks,
    _migration_6_deliveries,
    _migration_7_units,
)
"""Migration N is MIGRATIONS[N - 1]. Append, never edit: a database records the last one it ran."""


def ensure_state_tables(engine: Engine) -> None:
    """Bring batchsync's own tables to the current version: each migration not yet recorded in
    `batchsync_schema_version` runs once, in the transaction that records it."""
    try:
        with engine.begin() as connection:  # one writer at a time (BEGIN IMMEDIATE on SQLite)
            schema = state_schema_of(engine)
            if schema is not None and not inspect(connection).has_schema(schema):
                connection.execute(CreateSchema(schema, if_not_exists=True))
            schema_version.create(connection, checkfirst=True)
            if connection.dialect.name == "postgresql":  # concurrent starts wait here, then see the result
                # Named with the real schema (the config's state_schema), quoted by the dialect.
                locked = Table(schema_version.name, MetaData(), schema=schema)
                name = connection.dialect.identifier_preparer.format_table(locked)
                connection.exec_driver_sql(f"LOCK TABLE {name} IN EXCLUSIVE MODE")
            current = connection.execute(select(func.max(schema_version.c.version))).scalar_one() or 0
            for version, migrate in enumerate(MIGRATIONS, start=1):
                if version > current:
                    migrate(connection)
                    connection.execute(
                        insert(schema_version).values(version=version, applied_at=stamp(datetime.now(UTC)))
                    )
    except DatabaseCallError as exc:
        raise SinkError(f"cannot create or upgrade batchsync's tables: {exc.reason}") from exc


def state_version(connection: Connection) -> int:
    """The last migration this database ran (0: batchsync never ran here)."""
    if not state_table_exists(connection, schema_version):
        return 0
    return int(connection.execute(select(func.max(schema_version.c.version))).scalar_one() or 0)


def state_table_exists(bind: Engine | Connection, table: Table) -> bool:
    """Whether one of batchsync's own tables exists yet (in the configured state schema). Pass the open
    connection when there is one: on SQLite a second connection would wait for the first's lock."""
    return inspect(bind).has_table(table.name, schema=state_schema_of(bind.engine))
