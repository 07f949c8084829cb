"""Run history in `batchsync_runs`: a row when a run starts, completed when it ends.

A run killed with `kill -9`, or one whose end could not be recorded because the database was locked or
unreachable at that moment, leaves its row `running`. The next run of the pipeline on the same host finds
it with a process that has ended (see state/processes.py) and closes it as failed, with what the
database still knows of it: the records its batches committed (from the checkpoint, against where the
run started) and its dead letters. So history never shows a ghost run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, RowMapping, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from batchsync.database import database_error_reason
from batchsync.errors import CheckpointError, SinkError
from batchsync.models import Checkpoint, RunResult, RunStatus, Trigger
from batchsync.state import checkpoints, processes
from batchsync.state.bookkeeping import Bookkeeping
from batchsync.state.tables import dead_letters, runs, state_version, storable_text

INTERRUPTED_MESSAGE = (
    "the process ended without recording the run's end (killed, crashed, or the database was "
    "unavailable at that moment)"
)
_STARTED_FROM = "started_from"  # in `details` while the run is running: where its pass stood at the start


def record_start(
    engine: Engine,
    run_id: str,
    pipeline: str,
    trigger: Trigger,
    started_at: datetime,
    start: Checkpoint | None = None,
) -> None:
    """Close the pipeline's abandoned rows, then insert this run's. `start` is the checkpoint the run
    begins from: kept in the row, it lets a later run count what this one committed if it is abandoned."""
    try:
        _insert_start(engine, run_id, pipeline, trigger, started_at, start)
    except SQLAlchemyError as exc:
        raise SinkError(f"cannot record the run in batchsync_runs: {database_error_reason(exc)}") from exc


def _insert_start(
    engine: Engine,
    run_id: str,
    pipeline: str,
    trigger: Trigger,
    started_at: datetime,
    start: Checkpoint | None,
) -> None:
    details = None
    if start is not None:
        started_from = {
            "pass_started_at": start.pass_started_at.isoformat() if start.pass_started_at else None,
            "pass_records": start.pass_records,
        }
        details = orjson.dumps({_STARTED_FROM: started_from}).decode()
    with engine.begin() as connection:
        _close_abandoned(connection, pipeline)
        connection.execute(
            insert(runs).values(
                run_id=run_id,
                pipeline=pipeline,
                trigger=trigger.value,
                status=RunStatus.RUNNING.value,
                started_at=started_at.isoformat(),
                host=socket.gethostname(),
                pid=os.getpid(),
                process_start_ticks=processes.start_ticks(os.getpid()),
                details=details,
            )
        )


def record_finish(bookkeeping: Bookkeeping, result: RunResult) -> None:
    """Complete the run's row, tried again within the bookkeeping's budget. Raises SinkError."""
    try:
        bookkeeping.run(lambda engine: _update_finish(engine, result))
    except SQLAlchemyError as exc:
        raise SinkError(
            f"cannot record the run's end in batchsync_runs: {database_error_reason(exc)}"
        ) from exc


def _update_finish(engine: Engine, result: RunResult) -> None:
    details = {
        "warnings": list(result.warnings),
        "error_details": [{"key": f.key, "error": f.error} for f in result.failures],
        "drift": {"inserted": result.drift.inserted, "deleted": result.drift.deleted},
    }
    with engine.begin() as connection:
        connection.execute(
            update(runs)
            .where(runs.c.run_id == result.run_id)
            .values(
                status=result.status.value,
                finished_at=result.finished_at.isoformat(),
                duration_seconds=result.duration_seconds,
                api_calls=result.api_calls,
                retries=result.retries,
                pages=result.pages,
                created=result.counts.created,
                updated=result.counts.updated,
                unchanged=result.counts.unchanged,
                filtered=result.counts.filtered,
                deleted=result.deleted,
                failed=len(result.failures),
                is_pass_complete=result.is_pass_complete,
                error=None if result.error is None else storable_text(result.error),
                details=orjson.dumps(details).decode(),
            )
        )


def recent(connection: Connection, pipeline: str | None = None, limit: int = 20) -> Sequence[RowMapping]:
    # Not process_start_ticks: the read-only commands must work on a database no run has upgraded yet.
    # For the same reason `filtered` (migration 3) is read only where it exists; row_as_dict fills in 0.
    left_out = {"process_start_ticks"} | (set() if state_version(connection) >= 3 else {"filtered"})
    columns = [column for column in runs.c if column.name not in left_out]
    query = select(*columns).order_by(runs.c.started_at.desc()).limit(limit)
    if pipeline:
        query = query.where(runs.c.pipeline == pipeline)
    return connection.execute(query).mappings().all()


def _close_abandoned(connection: Connection, pipeline: str) -> None:
    host = socket.gethostname()
    rows = connection.execute(
        select(runs.c.run_id, runs.c.pid, runs.c.process_start_ticks, runs.c.details).where(
            runs.c.pipeline == pipeline, runs.c.status == RunStatus.RUNNING.value, runs.c.host == host
        )
    ).all()
    for run_id, pid, start_ticks, details in rows:
        # The caller holds the pipeline's lease, so a row left by this very process (a run whose end
        # could not be recorded) is over too, though its pid is alive.
        if pid is None or pid == os.getpid() or not processes.is_running(pid, start_ticks):
            committed = _records_committed(connection, pipeline, details)
            error = INTERRUPTED_MESSAGE
            if committed is not None:
                error += f"; its batches committed {committed:,} records, which stay"
            connection.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(
                    status=RunStatus.FAILED.value,
                    finished_at=datetime.now(UTC).isoformat(),
                    failed=_dead_letters_of(connection, run_id),
                    error=error,
                )
            )


def _records_committed(connection: Connection, pipeline: str, details: str | None) -> int | None:
    """Records an abandoned run committed: the checkpoint's count, less the count it started from, when
    the checkpoint is still in the pass the run started in. None when that cannot be told."""
    try:
        started_from = orjson.loads(details)[_STARTED_FROM] if details else None
        checkpoint = checkpoints.load(connection, pipeline)
    except (orjson.JSONDecodeError, KeyError, TypeError, SinkError, CheckpointError):
        return None
    if not isinstance(started_from, dict) or checkpoint is None or checkpoint.pass_started_at is None:
        return None
    if checkpoint.pass_started_at.isoformat() != started_from.get("pass_started_at"):
        return None
    committed = checkpoint.pass_records - int(started_from.get("pass_records") or 0)
    return committed if committed >= 0 else None


def _dead_letters_of(connection: Connection, run_id: str) -> int:
    count = select(func.count()).select_from(dead_letters).where(dead_letters.c.run_id == run_id)
    return int(connection.execute(count).scalar_one())


def row_as_dict(row: RowMapping) -> dict[str, Any]:
    """A history row as JSON-ready values, details expanded."""
    values = {str(name): value for name, value in row.items()}  # SQLAlchemy keys are str subclasses
    values.setdefault("filtered", 0)  # a database from before migration 3
    details = orjson.loads(values.pop("details", None) or "{}")
    details.pop(_STARTED_FROM, None)  # bookkeeping of a run still running, not part of its outcome
    values.update({"warnings": [], "error_details": [], "drift": {"inserted": 0, "deleted": 0}})
    values.update(details)
    return values
