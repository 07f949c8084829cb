"""What the walker tests share: the two-column `items` destination (and a database
holding it, `walk_database`) and a PassWalker over a source of their own that writes there."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine

from batchsync.config import DestinationConfig
from batchsync.database import open_database
from batchsync.engine.batches import BatchWriter
from batchsync.engine.walk import PassWalker
from batchsync.models import Checkpoint
from batchsync.redaction import Redactor
from batchsync.sinks import make_sink
from batchsync.sinks.mapping import RowMapper
from batchsync.sinks.schema import ensure_table
from batchsync.sources.base import PagedSource
from batchsync.state.tables import ensure_state_tables

DESTINATION = DestinationConfig.model_validate(
    {
        "table": "items",
        "primary_key": "id",
        "columns": {"id": {"path": "id"}, "n": {"path": "n", "type": "integer"}},
    }
)


def items_walker(
    source: PagedSource,
    *,
    db_batch_size: int,
    stop: threading.Event,
    on_batch: Callable[[Checkpoint, int, int | None], None],
    concurrency: int = 1,
) -> PassWalker:
    """A walker over `source` writing `items` in batches of `db_batch_size`, as a pull's pass does."""
    writer = BatchWriter(
        "items",
        "run-1",
        make_sink("sqlite", DESTINATION),
        incremental=None,
        redactor=Redactor(),
        fail_on_record_error=False,
        dry_run=False,
        has_dead_letters=False,
        table_exists=True,
        dead_letters_under="items",
        settles_dead_letters_at_pass_end=True,
    )
    return PassWalker(
        source,
        RowMapper(DESTINATION),
        writer,
        db_batch_size=db_batch_size,
        redactor=Redactor(),
        fail_on_record_error=False,
        stop=stop,
        on_batch=on_batch,
        concurrency=concurrency,
    )


def walk_database(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite database with batchsync's state tables and the walker tests' `items` table, for their
    `engine` fixture (`yield from walk_database(tmp_path)`)."""
    engine = open_database(f"sqlite:///{tmp_path / 'walk.db'}")
    ensure_state_tables(engine)
    ensure_table(engine, make_sink("sqlite", DESTINATION).table, DESTINATION)
    yield engine
    engine.dispose()
