"""The units of a distributed run, one row each in `batchsync_units`: what the unit is, who took it, and
what it came to. The run's own process (the parent) adds the rows and reads them back; each worker marks
the unit it takes and writes its outcome there. The database is the one channel every worker and the
parent share already, so the broker carries only names and ids, and a parent or API on any machine sees
how far a run is.

A unit goes queued → running → done, interrupted (a cancel or stop reached it: not done, resumable) or
failed (its task could not run it: an internal error, after Celery's retries). A worker that dies leaves
it running; the redelivered task takes it again (`attempts` counts the takes).
"""

from __future__ import annotations

import enum
import hashlib
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, RowMapping, insert, select, update

from batchsync import jsontext
from batchsync.database import database_errors
from batchsync.errors import DatabaseCallError, SinkError
from batchsync.models import JSONObject
from batchsync.state.tables import storable_text, units
from batchsync.timestamps import stamp

_MAX_LEASE_NAME = 200  # batchsync_leases.pipeline


def lease_name(pipeline: str, unit_id: str) -> str:
    """The name of the lease a worker holds while it runs the unit (`batchsync_leases`)."""
    name = f"{pipeline}/unit/{unit_id}"
    if len(name) <= _MAX_LEASE_NAME:
        return name
    return f"{pipeline}/unit/" + hashlib.sha256(unit_id.encode()).hexdigest()


class UnitStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (UnitStatus.DONE, UnitStatus.INTERRUPTED, UnitStatus.FAILED)


@dataclass(frozen=True, slots=True)
class UnitRow:
    run_id: str
    unit_id: str
    pipeline: str
    spec: JSONObject
    status: UnitStatus
    outcome: JSONObject | None
    attempts: int
    worker: str | None


def add(engine: Engine, run_id: str, pipeline: str, specs: Sequence[tuple[str, JSONObject]]) -> None:
    """Record the units `specs` (id, spec) of run `run_id` as queued, in one transaction."""
    now = stamp(datetime.now(UTC))
    rows = [
        {
            "run_id": run_id,
            "unit_id": unit_id,
            "pipeline": pipeline,
            "spec": jsontext.dumps(spec),
            "status": UnitStatus.QUEUED.value,
            "queued_at": now,
        }
        for unit_id, spec in specs
    ]
    if not rows:
        return
    _write(engine, "record the run's units", lambda connection: connection.execute(insert(units), rows))


def take(engine: Engine, run_id: str, unit_id: str) -> UnitRow | None:
    """Mark the unit running on this worker (one more attempt) and return it; None when it is final
    already (a redelivered copy of a task that finished) or unknown."""
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def mark(connection: Connection) -> None:
        connection.execute(
            update(units)
            .where(units.c.run_id == run_id, units.c.unit_id == unit_id)
            .where(units.c.status.in_([UnitStatus.QUEUED.value, UnitStatus.RUNNING.value]))
            .values(
                status=UnitStatus.RUNNING.value,
                attempts=units.c.attempts + 1,
                worker=worker,
                started_at=stamp(datetime.now(UTC)),
            )
        )

    _write(engine, "take the unit", mark)
    row = get(engine, run_id, unit_id)
    if row is None or row.status.is_final:
        return None
    return row


def finish(engine: Engine, run_id: str, unit_id: str, status: UnitStatus, outcome: JSONObject) -> None:
    """Record what the unit came to."""
    values = {
        "status": status.value,
        "outcome": storable_text(jsontext.dumps(outcome)),
        "finished_at": stamp(datetime.now(UTC)),
    }

    def mark(connection: Connection) -> None:
        connection.execute(
            update(units).where(units.c.run_id == run_id, units.c.unit_id == unit_id).values(**values)
        )

    _write(engine, "record the unit's outcome", mark)


def of_run(engine: Engine, run_id: str) -> list[UnitRow]:
    """Every unit of run `run_id`, in the order they were added (by id within one add)."""
    try:
        with database_errors(), engine.connect() as connection:
            rows = connection.execute(
                select(units).where(units.c.run_id == run_id).order_by(units.c.queued_at, units.c.unit_id)
            ).mappings()
            return [_row(row) for row in rows]
    except DatabaseCallError as exc:
        raise SinkError(f"cannot read the run's units: {exc.reason}") from exc


def get(engine: Engine, run_id: str, unit_id: str) -> UnitRow | None:
    try:
        with database_errors(), engine.connect() as connection:
            row = (
                connection.execute(select(units).where(units.c.run_id == run_id, units.c.unit_id == unit_id))
                .mappings()
                .first()
            )
    except DatabaseCallError as exc:
        raise SinkError(f"cannot read the unit {unit_id}: {exc.reason}") from exc
    return None if row is None else _row(row)


def _row(mapping: RowMapping) -> UnitRow:
    spec = jsontext.parse(mapping["spec"])
    outcome = jsontext.parse(mapping["outcome"]) if mapping["outcome"] else None
    return UnitRow(
        run_id=str(mapping["run_id"]),
        unit_id=str(mapping["unit_id"]),
        pipeline=str(mapping["pipeline"]),
        spec=spec if isinstance(spec, dict) else {},
        status=UnitStatus(mapping["status"]),
        outcome=outcome if isinstance(outcome, dict) else None,
        attempts=int(mapping["attempts"]),
        worker=mapping["worker"],
    )


def _write(engine: Engine, what: str, work: Callable[[Connection], object]) -> None:
    try:
        with database_errors(), engine.begin() as connection:
            work(connection)
    except DatabaseCallError as exc:
        raise SinkError(f"cannot {what}: {exc.reason}") from exc
