"""batchsync's own tables are created and upgraded by numbered migrations, each run once."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from batchsync.database import open_database
from batchsync.state import runs
from batchsync.state.tables import MIGRATIONS, ensure_state_tables, metadata, state_version


def test_a_new_database_gets_every_table_at_the_latest_version(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        ensure_state_tables(engine)
        ensure_state_tables(engine)  # a second start changes nothing

        with engine.connect() as connection:
            version = state_version(connection)
            applied = connection.execute(text("SELECT count(*) FROM batchsync_schema_version")).scalar_one()
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert version == len(MIGRATIONS) == applied
    assert {table.name for table in metadata.sorted_tables} <= tables


RUNS_AS_OF_0_1 = (
    "CREATE TABLE batchsync_runs (run_id VARCHAR(36) PRIMARY KEY, pipeline VARCHAR(200) NOT NULL,"
    " trigger VARCHAR(20) NOT NULL, status VARCHAR(20) NOT NULL, started_at VARCHAR(40) NOT NULL,"
    " finished_at VARCHAR(40), duration_seconds FLOAT, api_calls INTEGER DEFAULT 0 NOT NULL,"
    " retries INTEGER DEFAULT 0 NOT NULL, pages INTEGER DEFAULT 0 NOT NULL,"
    " created INTEGER DEFAULT 0 NOT NULL, updated INTEGER DEFAULT 0 NOT NULL,"
    " unchanged INTEGER DEFAULT 0 NOT NULL, deleted INTEGER DEFAULT 0 NOT NULL,"
    " failed INTEGER DEFAULT 0 NOT NULL, is_pass_complete BOOLEAN DEFAULT false NOT NULL,"
    " error TEXT, details TEXT, host VARCHAR(255), pid INTEGER"
)
"""batchsync 0.1's batchsync_runs, as its release made it, without the closing parenthesis: a test adds
the columns a later migration brought, if any."""


def test_a_database_from_before_versioning_is_upgraded_keeping_its_data(database_url: str) -> None:
    raw = create_engine(database_url)
    with raw.begin() as connection:  # batchsync_runs as an early development build made it
        connection.execute(
            text(
                "CREATE TABLE batchsync_runs (run_id VARCHAR(36) PRIMARY KEY, pipeline VARCHAR(200) NOT NULL,"
                " trigger VARCHAR(20) NOT NULL, status VARCHAR(20) NOT NULL, started_at VARCHAR(40) NOT NULL)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO batchsync_runs VALUES"
                " ('r1', 'items', 'manual', 'succeeded', '2026-01-01T00:00:00')"
            )
        )
    raw.dispose()
    engine = open_database(database_url)
    try:
        ensure_state_tables(engine)

        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT run_id, status, deleted, api_calls FROM batchsync_runs")
            ).one()
            version = state_version(connection)
    finally:
        engine.dispose()
    assert tuple(row) == ("r1", "succeeded", 0, 0)
    assert version == len(MIGRATIONS)


def test_a_database_at_version_1_gains_the_holder_start_time_keeping_its_lease(database_url: str) -> None:
    raw = create_engine(database_url)
    with raw.begin() as connection:  # batchsync 0.1's lease and run tables, with a lease held
        connection.execute(
            text("CREATE TABLE batchsync_schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        )
        connection.execute(text("INSERT INTO batchsync_schema_version VALUES (1, '2026-01-01T00:00:00')"))
        connection.execute(
            text(
                "CREATE TABLE batchsync_leases (pipeline VARCHAR(200) PRIMARY KEY,"
                " run_id VARCHAR(36) NOT NULL, host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL,"
                " started_at VARCHAR(40) NOT NULL,"
                " heartbeat_at VARCHAR(40) NOT NULL)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO batchsync_leases VALUES"
                " ('items', 'r1', 'host-a', 4242, '2026-01-01T00:00:00', '2026-01-01T00:00:00')"
            )
        )
        connection.execute(
            text(
                "CREATE TABLE batchsync_runs (run_id VARCHAR(36) PRIMARY KEY, pipeline VARCHAR(200) NOT NULL,"
                " trigger VARCHAR(20) NOT NULL, status VARCHAR(20) NOT NULL, started_at VARCHAR(40) NOT NULL,"
                " host VARCHAR(255), pid INTEGER)"
            )
        )
    raw.dispose()
    engine = open_database(database_url)
    try:
        ensure_state_tables(engine)

        with engine.connect() as connection:
            lease = connection.execute(
                text("SELECT run_id, pid, process_start_ticks FROM batchsync_leases")
            ).one()
            version = state_version(connection)
        run_columns = {column["name"] for column in inspect(engine).get_columns("batchsync_runs")}
    finally:
        engine.dispose()
    assert tuple(lease) == ("r1", 4242, None)
    assert "process_start_ticks" in run_columns
    assert version == len(MIGRATIONS) == 7


def test_the_history_of_a_database_no_run_has_upgraded_yet_can_be_read(database_url: str) -> None:
    raw = create_engine(database_url)
    with raw.begin() as connection:  # batchsync 0.1's batchsync_runs, as its release made it
        connection.execute(text(RUNS_AS_OF_0_1 + ")"))
        connection.execute(
            text(
                "INSERT INTO batchsync_runs (run_id, pipeline, trigger, status, started_at)"
                " VALUES ('r1', 'items', 'manual', 'succeeded', '2026-01-01T00:00:00')"
            )
        )
    raw.dispose()
    engine = open_database(database_url, read_only=True)
    try:
        with engine.connect() as connection:
            history = [runs.row_as_dict(row) for row in runs.recent(connection, "items")]
    finally:
        engine.dispose()
    assert [(row["run_id"], row["status"]) for row in history] == [("r1", "succeeded")]


def _version_2_runs_table(database_url: str) -> None:
    """batchsync_runs as migration 2 left it (no `filtered` column), with one finished run."""
    raw = create_engine(database_url)
    with raw.begin() as connection:
        connection.execute(
            text("CREATE TABLE batchsync_schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        )
        connection.execute(
            text(
                "INSERT INTO batchsync_schema_version VALUES"
                " (1, '2026-01-01T00:00:00'), (2, '2026-01-02T00:00:00')"
            )
        )
        connection.execute(text(RUNS_AS_OF_0_1 + ", process_start_ticks BIGINT)"))
        connection.execute(
            text(
                "INSERT INTO batchsync_runs (run_id, pipeline, trigger, status, started_at, created)"
                " VALUES ('r1', 'items', 'manual', 'succeeded', '2026-01-01T00:00:00', 7)"
            )
        )
    raw.dispose()


def test_a_database_at_version_2_gains_the_filtered_count_and_cancel_mark_keeping_its_runs(
    database_url: str,
) -> None:
    _version_2_runs_table(database_url)
    engine = open_database(database_url)
    try:
        ensure_state_tables(engine)

        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT run_id, created, filtered, cancel_requested_at FROM batchsync_runs")
            ).one()
            version = state_version(connection)
    finally:
        engine.dispose()
    assert tuple(row) == ("r1", 7, 0, None)
    assert version == len(MIGRATIONS) == 7


def test_the_history_of_a_version_2_database_reads_as_nothing_filtered(database_url: str) -> None:
    _version_2_runs_table(database_url)
    engine = open_database(database_url, read_only=True)
    try:
        with engine.connect() as connection:
            history = [runs.row_as_dict(row) for row in runs.recent(connection, "items")]
    finally:
        engine.dispose()
    assert [(row["run_id"], row["created"], row["filtered"]) for row in history] == [("r1", 7, 0)]
