"""What a user can do with a pipeline — run, status, reset, history — as plain functions.

The CLI and the Python API (`batchsync.run(...)`) are both thin layers over these, so they can never
disagree about what a command means.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    RowMapping,
    String,
    Table,
    func,
    or_,
    select,
    true,
    type_coerce,
)

from batchsync.config import Condition, Config, DestinationConfig, load_config, parse_config
from batchsync.database import open_database
from batchsync.distributed.dispatch import check_distributable
from batchsync.distributed.lookup import prepare_sharded_lookup
from batchsync.distributed.pull import prepare_remote_pull
from batchsync.engine import ProgressCallback, RunOptions
from batchsync.engine.launch import PreparedRun, prepare_pipeline
from batchsync.engine.partitions.run import prepare_partitioned
from batchsync.engine.plans import lookup_source, partitioned_source
from batchsync.errors import ConfigError
from batchsync.fanout.run import prepare_fanout
from batchsync.models import Checkpoint, Cursor, JSONObject, JSONValue, RunResult, Trigger
from batchsync.sinks.schema import DELETED_AT_COLUMN, SEEN_AT_COLUMN, destination_table, table_exists
from batchsync.sinks.where import parse_cli_filter
from batchsync.state import cancels, checkpoints, deadletters, runs
from batchsync.state.tables import checkpoints as checkpoints_table
from batchsync.state.tables import dead_letters as dead_letters_table
from batchsync.state.tables import ensure_state_tables, state_table_exists
from batchsync.state.tables import runs as runs_table
from batchsync.timestamps import stamp

ConfigSource = Config | Mapping[str, Any] | str | Path | None


def resolve_config(config: ConfigSource, pipelines: list[str] | None = None) -> Config:
    """A Config from whatever the caller has: a Config, a parsed dict, a file path, or None (discover)."""
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return parse_config(dict(config), pipelines=pipelines)
    return load_config(config, pipelines=pipelines)


def run(
    name: str,
    config: ConfigSource = None,
    *,
    trigger: Trigger | str = Trigger.MANUAL,
    full_refresh: bool = False,
    dry_run: bool = False,
    batch_size: int | None = None,
    db_batch_size: int | None = None,
    concurrency: int | None = None,
    filters: Sequence[str] = (),
    only: Sequence[str] = (),
    params: Mapping[str, str] | None = None,
    conditions: Mapping[str, Condition] | None = None,
    run_id: str | None = None,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Run pipeline `name` to the end of its pass; the Python twin of `batchsync run NAME`.

    `filters` are the CLI's `--filter` conditions (`status=active`, `prd~Office`) on a lookup's keys;
    `only` limits a fan-out to those entity ids, or makes a rest pipeline fetch just those records;
    `params` sets query parameters for this run (`--param filter_by=Status.Active`), over the source's;
    `conditions` are more key filters in the config's `where` form (`{"prd": Condition(ilike=…)}`);
    `run_id` names the run's row (None: a new id). A partitioned pull (`partition:`) syncs its ranges,
    up to `concurrency` at once."""
    options = RunOptions(
        trigger=Trigger(trigger),
        full_refresh=full_refresh,
        dry_run=dry_run,
        page_size=batch_size,
        db_batch_size=db_batch_size,
        concurrency=concurrency,
        filters=dict(parse_cli_filter(text) for text in filters) | dict(conditions or {}),
        params=dict(params or {}),
        run_id=run_id,
    )
    return prepare_run(
        name, resolve_config(config, [name]), options, only=only, stop=stop, on_progress=on_progress
    )()


def prepare_run(
    name: str,
    config: Config,
    options: RunOptions,
    *,
    only: Sequence[str] = (),
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> PreparedRun:
    """Pipeline `name`'s run, checked (ConfigError now, before anything is opened) and ready: calling it
    runs it. The control API checks a request this way before it answers, then runs it in its pool."""
    source = config.pipeline(name).source
    execution = config.execution_for(name)
    remote = execution if execution.is_distributed and not options.dry_run else None
    if remote is not None and not (only and source.as_fanout() is None):  # a targeted sync runs here
        check_distributable(config, name, remote)
    if source.as_fanout() is not None:
        return prepare_fanout(
            config, name, options, only=only, stop=stop, on_progress=on_progress, execution=remote
        )
    if only:
        return prepare_pipeline(config, name, options, only_ids=only, stop=stop)
    if partitioned_source(source) is not None:
        return prepare_partitioned(
            config, name, options, stop=stop, on_progress=on_progress, execution=remote
        )
    if remote is not None and lookup_source(source) is not None:
        return prepare_sharded_lookup(config, name, options, remote, stop=stop, on_progress=on_progress)
    if remote is not None:
        return prepare_remote_pull(config, name, options, remote, stop=stop, on_progress=on_progress)
    return prepare_pipeline(config, name, options, stop=stop, on_progress=on_progress)


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    """Where a pipeline stands: its checkpoint, its table and its last run."""

    pipeline: str
    table: str
    is_started: bool
    is_complete: bool
    cursor: Cursor
    skip_records: int
    pass_records: int
    total_expected: int | None
    watermark: JSONValue
    last_synced_at: datetime | None
    table_rows: int | None
    last_run: JSONObject | None
    pass_unit: str = "records"
    """What `pass_records` counts: records, or the entities (fan-out) or ranges (partitioned pull) done."""

    @property
    def state(self) -> str:
        if self.is_complete:
            return "complete"
        if self.is_started:
            return "in progress"
        if self.last_run is None and not self.table_rows:
            return "never synced"
        return "not started"  # reset, or every run so far failed before committing a batch

    def to_dict(self) -> JSONObject:
        return {
            "pipeline": self.pipeline,
            "table": self.table,
            "state": self.state,
            "is_complete": self.is_complete,
            "cursor": self.cursor,
            "skip_records": self.skip_records,
            "pass_records": self.pass_records,
            "pass_unit": self.pass_unit,
            "total_expected": self.total_expected,
            "watermark": self.watermark,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "table_rows": self.table_rows,
            "last_run": self.last_run,
        }


def status(name: str | None = None, config: ConfigSource = None) -> list[PipelineStatus]:
    """Status of one pipeline, or of every pipeline in the config. Reads only."""
    resolved = resolve_config(config, [name] if name else [])
    names = [name] if name else sorted(resolved.pipelines)
    engine = open_database(resolved.database, read_only=True, state_schema=resolved.state_schema)
    try:
        return [status_of(engine, resolved, each) for each in names]
    finally:
        engine.dispose()


def status_of(engine: Engine, config: Config, name: str) -> PipelineStatus:
    """Pipeline `name`'s status read through `engine` (which the caller keeps open)."""
    pipeline = config.pipeline(name)
    table = pipeline.destination.table
    checkpoint: Checkpoint | None = None
    last_run: JSONObject | None = None
    rows: int | None = None
    targeted_at: datetime | None = None
    with engine.connect() as connection:
        if state_table_exists(connection, checkpoints_table):
            checkpoint = checkpoints.load(connection, name)
        if state_table_exists(connection, runs_table):
            recent = runs.recent(connection, name, limit=1)
            last_run = runs.row_as_dict(recent[0]) if recent else None
            # A targeted sync writes rows but leaves the checkpoint (and its last_synced_at) alone.
            targeted_at = runs.synced_since(
                connection, name, checkpoint.last_synced_at if checkpoint else None
            )
        if table_exists(connection, table, pipeline.destination.db_schema):
            counted = destination_table(pipeline.destination)
            rows = connection.execute(select(func.count()).select_from(counted)).scalar_one()
    checkpoint = checkpoint or Checkpoint()
    return PipelineStatus(
        pipeline=name,
        table=table,
        is_started=checkpoint.is_started,
        is_complete=checkpoint.is_complete,
        cursor=checkpoint.cursor,
        skip_records=checkpoint.skip_records,
        pass_records=checkpoint.pass_records,
        total_expected=checkpoint.total_expected,
        watermark=checkpoint.watermark,
        last_synced_at=targeted_at or checkpoint.last_synced_at,
        table_rows=rows,
        last_run=last_run,
        pass_unit=pipeline.source.pass_unit,
    )


def reset(name: str, config: ConfigSource = None) -> bool:
    """Forget the pipeline's checkpoint and watermark (its rows stay) and those of all its units: a
    fan-out's child syncs, a partitioned pull's ranges, a distributed lookup's shards, so the next run
    starts each of them from its first page, not only the pipeline's own pass. True when there was
    anything to forget."""
    resolved = resolve_config(config, [name])
    resolved.pipeline(name)
    engine = open_database(resolved.database, state_schema=resolved.state_schema)
    try:
        ensure_state_tables(engine)
        with engine.begin() as connection:
            return checkpoints.remove_with_units(connection, name) > 0
    finally:
        engine.dispose()


def cancel(run_id: str, config: ConfigSource = None) -> cancels.CancelAnswer:
    """Ask run `run_id` to stop, wherever it runs: its process sees the request within a second and
    stops at its next batch boundary, checkpoint saved, status `cancelled` (state/cancels.py)."""
    resolved = resolve_config(config)
    engine = open_database(resolved.database, state_schema=resolved.state_schema)
    try:
        return cancels.request_cancel(engine, run_id)
    finally:
        engine.dispose()


def history(name: str | None = None, config: ConfigSource = None, limit: int = 20) -> list[JSONObject]:
    """The most recent runs, newest first."""
    resolved = resolve_config(config, [name] if name else [])
    engine = open_database(resolved.database, read_only=True, state_schema=resolved.state_schema)
    try:
        if not state_table_exists(engine, runs_table):
            return []
        with engine.connect() as connection:
            return [runs.row_as_dict(row) for row in runs.recent(connection, name, limit)]
    finally:
        engine.dispose()


def dead_letters(name: str, config: ConfigSource = None, limit: int = 100) -> list[JSONObject]:
    """The pipeline's dead letters, newest first."""
    resolved = resolve_config(config, [name])
    resolved.pipeline(name)
    engine = open_database(resolved.database, read_only=True, state_schema=resolved.state_schema)
    try:
        if not state_table_exists(engine, dead_letters_table):
            return []
        with engine.connect() as connection:
            return [deadletters.as_dict(row) for row in deadletters.recent(connection, name, limit)]
    finally:
        engine.dispose()


def count_dead_letters(name: str, config: ConfigSource = None) -> int:
    """How many dead letters the pipeline has (`dead_letters` lists at most `limit` of them)."""
    resolved = resolve_config(config, [name])
    resolved.pipeline(name)
    engine = open_database(resolved.database, read_only=True, state_schema=resolved.state_schema)
    try:
        if not state_table_exists(engine, dead_letters_table):
            return 0
        with engine.connect() as connection:
            return deadletters.count(connection, name)
    finally:
        engine.dispose()


def retry_failed(
    name: str,
    config: ConfigSource = None,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[RunResult, int]:
    """Give every dead letter another chance: a full pass (ignoring the watermark, since a fixed record
    need not look newer) resolves each entry whose record now syncs. Returns the run and how many
    dead letters remain."""
    resolved = resolve_config(config, [name])
    result = run(name, resolved, full_refresh=True, stop=stop, on_progress=on_progress)
    return result, len(dead_letters(name, resolved, limit=1_000_000))


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """What the destination table holds, and how fresh it is."""

    pipeline: str
    table: str
    total_rows: int
    synced_last_run: int
    stale_rows: int
    stale_after_seconds: float
    deleted_rows: int
    dead_letters: int
    last_sync_at: datetime | None

    @property
    def rows_in_error(self) -> int:
        """`dead_letters` by the name the README and `stats --json` give it: kept for users' code."""
        return self.dead_letters

    def to_dict(self) -> JSONObject:
        return {
            "pipeline": self.pipeline,
            "table": self.table,
            "total_rows": self.total_rows,
            "synced_last_run": self.synced_last_run,
            "stale_rows": self.stale_rows,
            "stale_after_seconds": self.stale_after_seconds,
            "deleted_rows": self.deleted_rows,
            "rows_in_error": self.dead_letters,  # the key users' scripts read
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
        }


def stats(
    name: str, config: ConfigSource = None, *, stale_after: timedelta = timedelta(hours=24)
) -> PipelineStats:
    """Rows in the table, rows the last run saw, rows no sync has seen for `stale_after`, soft-deleted
    rows, records in error (dead letters) and the last sync time. Reads only."""
    resolved = resolve_config(config, [name])
    resolved.pipeline(name)
    engine = open_database(resolved.database, read_only=True, state_schema=resolved.state_schema)
    try:
        return stats_of(engine, resolved, name, stale_after)
    finally:
        engine.dispose()


def stats_of(engine: Engine, config: Config, name: str, stale_after: timedelta) -> PipelineStats:
    """Pipeline `name`'s table figures read through `engine` (which the caller keeps open)."""
    pipeline = config.pipeline(name)
    with engine.connect() as connection:
        checkpoint = (
            checkpoints.load(connection, name) if state_table_exists(connection, checkpoints_table) else None
        )
        last_run = (
            runs.recent(connection, name, limit=1) if state_table_exists(connection, runs_table) else []
        )
        letters = (
            deadletters.count(connection, name) if state_table_exists(connection, dead_letters_table) else 0
        )
        figures = _table_figures(engine, connection, pipeline.destination, last_run, stale_after)
    return PipelineStats(
        pipeline=name,
        table=pipeline.destination.table,
        stale_after_seconds=stale_after.total_seconds(),
        dead_letters=letters,
        last_sync_at=checkpoint.last_synced_at if checkpoint else None,
        **figures,
    )


def _table_figures(
    engine: Engine,
    connection: Connection,
    destination: DestinationConfig,
    last_run: Sequence[RowMapping],
    stale_after: timedelta,
) -> dict[str, int]:
    if not table_exists(connection, destination.table, destination.db_schema):
        return {"total_rows": 0, "synced_last_run": 0, "stale_rows": 0, "deleted_rows": 0}
    rows = Table(destination.table, MetaData(), schema=destination.db_schema, autoload_with=connection)
    total = connection.execute(select(func.count()).select_from(rows)).scalar_one()
    if SEEN_AT_COLUMN not in rows.c:  # a table no batchsync sync has written to yet
        return {"total_rows": total, "synced_last_run": 0, "stale_rows": total, "deleted_rows": 0}
    seen: Any = rows.c[SEEN_AT_COLUMN]
    as_stored: Any = lambda moment: moment  # noqa: E731 - PostgreSQL compares timestamps as timestamps
    if engine.dialect.name == "sqlite" or isinstance(seen.type, String):
        # batchsync writes these as its own ISO text (see batchsync/timestamps.py): compare them as that text.
        seen, as_stored = type_coerce(seen, String), stamp
    live = rows.c[DELETED_AT_COLUMN].is_(None) if DELETED_AT_COLUMN in rows.c else true()
    since_last_run = datetime.fromisoformat(last_run[0]["started_at"]) if last_run else None

    def count(*conditions: Any) -> int:
        return int(connection.execute(select(func.count()).select_from(rows).where(*conditions)).scalar_one())

    synced_last_run = count(seen >= as_stored(since_last_run)) if since_last_run else 0
    stale = count(live, or_(seen.is_(None), seen < as_stored(datetime.now(UTC) - stale_after)))
    deleted = count(rows.c[DELETED_AT_COLUMN].is_not(None)) if DELETED_AT_COLUMN in rows.c else 0
    return {
        "total_rows": total,
        "synced_last_run": synced_last_run,
        "stale_rows": stale,
        "deleted_rows": deleted,
    }


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `24h`, `7d` or `2w` as a timedelta. Raises ConfigError on anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 90s, 30m, 24h, 7d)")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
    return timedelta(**{unit: float(match.group(1))})
