"""Fixtures of the engine tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from walking import DESTINATION

from batchsync.database import open_database
from batchsync.sinks import make_sink
from batchsync.sinks.schema import ensure_table
from batchsync.state.tables import ensure_state_tables


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite database with batchsync's state tables and the walker tests' `items` table (the batch and
    lookup writer tests have their own `engine`)."""
    engine = open_database(f"sqlite:///{tmp_path / 'walk.db'}")
    ensure_state_tables(engine)
    ensure_table(engine, make_sink("sqlite", DESTINATION).table, DESTINATION)
    yield engine
    engine.dispose()
