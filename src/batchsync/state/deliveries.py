"""Webhook deliveries in `batchsync_deliveries`: one row per ended run and receiver, claimed by the one
`serve` that inserts it (the primary key lets one insert win), then updated by every attempt: how many,
the last answer, when it was delivered, or when the next attempt is due. Each attempt is claimed too
(`take_attempt` moves `next_attempt_at` on only if nobody else did), so several services on one
database deliver each ended run once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, RowMapping, select, update
from sqlalchemy.dialects import postgresql, sqlite

from batchsync.database import database_errors
from batchsync.state.tables import deliveries
from batchsync.timestamps import stamp


def target_key(webhook: str) -> str:
    return hashlib.sha256(webhook.encode()).hexdigest()


def claim(engine: Engine, *, run_id: str, webhook: str, target: str, pipeline: str, event: str) -> bool:
    """Take the delivery of run `run_id` to `webhook`; False when a service has it already."""
    now = stamp(datetime.now(UTC))
    values = {
        "run_id": run_id,
        "target_key": target_key(webhook),
        "target": target,
        "pipeline": pipeline,
        "event": event,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(deliveries).values(values).on_conflict_do_nothing().returning(deliveries.c.run_id)
    )
    with database_errors(), engine.begin() as connection:
        return connection.execute(statement).first() is not None


def due(engine: Engine, now: datetime) -> Sequence[RowMapping]:
    """Deliveries not yet made whose next attempt is due."""
    with database_errors(), engine.connect() as connection:
        query = select(deliveries).where(
            deliveries.c.delivered_at.is_(None),
            deliveries.c.next_attempt_at.is_not(None),
            deliveries.c.next_attempt_at <= stamp(now),
        )
        return connection.execute(query).mappings().all()


def take_attempt(engine: Engine, row: RowMapping, hold: timedelta) -> bool:
    """Claim the attempt `row` announces, holding it for `hold` (then another service may try); False
    when another service took it first."""
    statement = (
        update(deliveries)
        .where(
            deliveries.c.run_id == row["run_id"],
            deliveries.c.target_key == row["target_key"],
            deliveries.c.next_attempt_at == row["next_attempt_at"],
        )
        .values(next_attempt_at=stamp(datetime.now(UTC) + hold))
        .returning(deliveries.c.run_id)
    )
    with database_errors(), engine.begin() as connection:
        return connection.execute(statement).first() is not None


def record_attempt(
    engine: Engine, row: RowMapping, *, answer: str, is_delivered: bool, next_attempt_at: datetime | None
) -> None:
    now = stamp(datetime.now(UTC))
    with database_errors(), engine.begin() as connection:
        connection.execute(
            update(deliveries)
            .where(deliveries.c.run_id == row["run_id"], deliveries.c.target_key == row["target_key"])
            .values(
                attempts=deliveries.c.attempts + 1,
                last_status=answer,
                delivered_at=now if is_delivered else None,
                next_attempt_at=None if next_attempt_at is None else stamp(next_attempt_at),
            )
        )


def for_run(connection: Connection, run_id: str) -> list[dict[str, object]]:
    """The run's deliveries as shown: receiver (scheme and host), attempts, last answer, times."""
    rows = connection.execute(select(deliveries).where(deliveries.c.run_id == run_id)).mappings().all()
    return [{str(key): value for key, value in row.items() if key != "target_key"} for row in rows]
