"""What a source plan promises the run, and what the run hands a plan's write path.

`SourcePlan` is the one seam where kinds of source differ (engine/plans/__init__.py picks one per
pipeline). `Batches` is how a plan writes a run's batches (a pull's pass walker and batch writer, a
lookup's refresher): the run drives any of them the same way and reads the same totals back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine

from batchsync.config import IncrementalConfig, PipelineConfig
from batchsync.config.http import HttpEndpointConfig
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.engine.options import ProgressCallback
from batchsync.engine.starting import PassIdentity
from batchsync.engine.unit import WorkUnit
from batchsync.errors import ConfigError
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


class SourcePlan(Protocol):
    """What differs per kind of source, for one run of one pipeline."""

    @property
    def pipeline(self) -> PipelineConfig:
        """The pipeline as this run uses it: its source with the run's `--param`s applied."""
        ...

    @property
    def endpoint(self) -> HttpEndpointConfig | None:
        """Where the source's requests go; None for a source that sends none itself."""
        ...

    @property
    def incremental(self) -> IncrementalConfig | None: ...

    def identity(self) -> PassIdentity:
        """The fingerprint, settings and first cursor of a pass of this source."""
        ...

    def prepare_table(self, engine: Engine, dry_run: bool) -> None:
        """Create or evolve what the run writes into (a dry run changes nothing)."""
        ...

    def batches(self, context: BatchContext) -> Batches: ...


def refuse_params(kind: str) -> ConfigError:
    return ConfigError(f"--param applies to rest sources (and a fan-out's child syncs), not to {kind}")


def refuse_only_ids(kind: str) -> ConfigError:
    return ConfigError(f"this needs a rest source, not {kind}")


def refuse_filters() -> ConfigError:
    return ConfigError("--filter applies to lookup pipelines (it picks the keys to refresh)")
