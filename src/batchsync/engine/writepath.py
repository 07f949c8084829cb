"""A run's write path as the run sees it: what the run hands it (`BatchContext`), the path itself
(`Batches`: a pull's pass walker and batch writer, a lookup's refresher) and what it gives back
(`PassOutcome`). Apart from engine/plans/ so a write path (engine/passes.py) and the plans that choose
it can both import these without importing each other.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection

from batchsync.config import PipelineConfig
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.engine.options import ProgressCallback
from batchsync.engine.unit import WorkUnit
from batchsync.http.client import HttpClient
from batchsync.models import Checkpoint, DeadLetterReport, DriftReport, WriteCounts
from batchsync.redaction import Redactor


@dataclass(frozen=True, slots=True)
class PassOutcome:
    """How a run's batches ended: the last checkpoint committed (or started from), drift seen, warnings."""

    final: Checkpoint
    drift: DriftReport = field(default_factory=DriftReport)
    warnings: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class BatchContext:
    """What a write path needs from its run: the unit, its HTTP client, and how to report."""

    unit: WorkUnit
    pipeline: PipelineConfig
    """The unit's pipeline as this run uses it (its `--param`s applied)."""
    client: HttpClient
    redactor: Redactor
    stop: threading.Event
    on_progress: ProgressCallback | None
    dialect: str
    live_record: LiveRunRecord | None
    """Adds each committed batch to the run's row; None for a dry run, which has no row."""
    has_dead_letters: bool
    table_exists: bool


class Batches(Protocol):
    """A run's write path, and its totals so far."""

    @property
    def counts(self) -> WriteCounts: ...

    @property
    def dead_letters(self) -> list[DeadLetterReport]: ...

    @property
    def deleted(self) -> int: ...

    @property
    def batches_committed(self) -> int: ...

    @property
    def pages(self) -> int: ...

    def write(self, connection: Connection, start: Checkpoint) -> PassOutcome:
        """Write the run's batches from `start`, each with its checkpoint, until done or stopped."""
        ...
