"""Run history in `batchsync_runs`: a row when a run starts, completed when it ends.

A run killed with `kill -9` cannot finish its row; the next run of the pipeline on the same host finds it
still `running` with a process that has ended (see state/processes.py) and closes it as failed, so history
never shows a ghost run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, RowMapping, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from batchsync.database import retrying_when_disconnected
from batchsync.errors import SinkError
from batchsync.models import RunResult, RunStatus, Trigger
from batchsync.state import processes
from batchsync.state.tables import runs

INTERRUPTED_MESSAGE = "the process ended without finishing the run (killed or crashed)"


def record_start(engine: Engine, run_id: str, pipeline: str, trigger: Trigger, started_at: datetime) -> None:
    try:
        _insert_start(engine, run_id, pipeline, trigger, started_at)
    except SQLAlchemyError as exc:
        raise SinkError(f"cannot record the run in batchsync_runs: {getattr(exc, 'orig', exc)}") from exc


def _insert_start(engine: Engine, run_id: str, pipeline: str, trigger: Trigger, started_at: datetime) -> None:
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
            )
        )


def record_finish(engine: Engine, result: RunResult) -> None:
    try:
        retrying_when_disconnected(lambda: _update_finish(engine, result))
    except SQLAlchemyError as exc:
        raise SinkError(
            f"cannot record the run's end in batchsync_runs: {getattr(exc, 'orig', exc)}"
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
                deleted=result.deleted,
                failed=len(result.failures),
                is_pass_complete=result.is_pass_complete,
                error=result.error,
                details=orjson.dumps(details).decode(),
            )
        )


def recent(connection: Connection, pipeline: str | None = None, limit: int = 20) -> Sequence[RowMapping]:
    query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
    if pipeline:
        query = query.where(runs.c.pipeline == pipeline)
    return connection.execute(query).mappings().all()


def _close_abandoned(connection: Connection, pipeline: str) -> None:
    host = socket.gethostname()
    rows = connection.execute(
        select(runs.c.run_id, runs.c.pid, runs.c.process_start_ticks).where(
            runs.c.pipeline == pipeline, runs.c.status == RunStatus.RUNNING.value, runs.c.host == host
        )
    ).all()
    for run_id, pid, start_ticks in rows:
        # The caller holds the pipeline's lease, so a row left by this very process (a run whose end
        # could not be recorded) is over too, though its pid is alive.
        if pid is None or pid == os.getpid() or not processes.is_running(pid, start_ticks):
            connection.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(
                    status=RunStatus.FAILED.value,
                    finished_at=datetime.now(UTC).isoformat(),
                    error=INTERRUPTED_MESSAGE,
                )
            )


def row_as_dict(row: RowMapping) -> dict[str, Any]:
    """A history row as JSON-ready values, details expanded."""
    values = {str(name): value for name, value in row.items()}  # SQLAlchemy keys are str subclasses
    details = values.pop("details", None)
    values.update({"warnings": [], "error_details": [], "drift": {"inserted": 0, "deleted": 0}})
    values.update(orjson.loads(details) if details else {})
    return values
