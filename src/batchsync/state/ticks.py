"""The scheduler's ticks in `batchsync_schedule_ticks`: one row per pipeline and scheduled time.

A `serve` about to run a scheduled time first claims it by inserting the row; the primary key lets only
one insert succeed, so two services on one PostgreSQL database (or two on one SQLite file) never both
run the same tick: the one that loses the insert does nothing. The row then says what came of the tick:
`started` (with the run id), `skipped` (the pipeline was running: not a failure), or `refused` (the run
could not start). The latest row is also how a restarted service knows which time it missed.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine, RowMapping, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from batchsync.database import database_errors
from batchsync.state.tables import schedule_ticks
from batchsync.timestamps import stamp

CLAIMED, STARTED, SKIPPED, REFUSED = "claimed", "started", "skipped", "refused"


def claim(engine: Engine, pipeline: str, scheduled_for: datetime) -> bool:
    """Take the tick; False when another service has it already. Raises DatabaseCallError."""
    values = {
        "pipeline": pipeline,
        "scheduled_for": stamp(scheduled_for),
        "fired_at": stamp(datetime.now(UTC)),
        "outcome": CLAIMED,
        "host": socket.gethostname(),
    }
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(schedule_ticks)
        .values(values)
        .on_conflict_do_nothing()
        .returning(schedule_ticks.c.pipeline)  # a row back only for the insert that took the tick
    )
    with database_errors(), engine.begin() as connection:
        return connection.execute(statement).first() is not None


def settle(
    engine: Engine,
    pipeline: str,
    scheduled_for: datetime,
    outcome: str,
    *,
    run_id: str | None = None,
    reason: str | None = None,
) -> None:
    """Say what came of a claimed tick. Raises DatabaseCallError."""
    with database_errors(), engine.begin() as connection:
        connection.execute(
            update(schedule_ticks)
            .where(
                schedule_ticks.c.pipeline == pipeline, schedule_ticks.c.scheduled_for == stamp(scheduled_for)
            )
            .values(outcome=outcome, run_id=run_id, reason=reason)
        )


def latest(engine: Engine, pipeline: str) -> datetime | None:
    """The latest scheduled time any service claimed for `pipeline`, or None."""
    with database_errors(), engine.connect() as connection:
        found = connection.execute(
            select(func.max(schedule_ticks.c.scheduled_for)).where(schedule_ticks.c.pipeline == pipeline)
        ).scalar_one_or_none()
    return None if found is None else datetime.fromisoformat(found)


def recent(engine: Engine, pipeline: str, limit: int = 10) -> Sequence[RowMapping]:
    with database_errors(), engine.connect() as connection:
        return (
            connection.execute(
                select(schedule_ticks)
                .where(schedule_ticks.c.pipeline == pipeline)
                .order_by(schedule_ticks.c.scheduled_for.desc())
                .limit(limit)
            )
            .mappings()
            .all()
        )
