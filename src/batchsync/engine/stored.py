"""What the database holds for a unit of work around its run: the checkpoint it starts from (and
whether dead letters wait), and the checkpoint as committed once it ends. Reads only."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from batchsync.database import database_errors
from batchsync.engine.unit import WorkUnit
from batchsync.errors import SinkError
from batchsync.models import Checkpoint
from batchsync.state import checkpoints, deadletters
from batchsync.state.tables import checkpoints as checkpoints_table
from batchsync.state.tables import state_table_exists

log = logging.getLogger("batchsync.engine")


def stored_state(engine: Engine, unit: WorkUnit) -> tuple[Checkpoint | None, bool]:
    """The saved checkpoint, and whether the unit has dead letters waiting to be resolved."""
    dry_run = unit.options.dry_run
    if dry_run and not state_table_exists(engine, checkpoints_table):
        return None, False
    with engine.connect() as connection:
        stored = checkpoints.load(connection, unit.state_key)
        has_dead_letters = not dry_run and deadletters.count(connection, unit.dead_letter_key) > 0
    return stored, has_dead_letters


def committed_checkpoint(engine: Engine, unit: WorkUnit, fallback: Checkpoint) -> Checkpoint:
    """The checkpoint as committed; `fallback` (what the run last committed or started from) when
    the database cannot be read just now, so the outcome is still reported."""
    if unit.options.dry_run:
        return fallback
    try:
        with database_errors(), engine.connect() as connection:
            return checkpoints.load(connection, unit.state_key) or fallback
    except SinkError as exc:
        log.warning("cannot read the committed checkpoint back (%s); reporting the run's own", exc)
        return fallback
