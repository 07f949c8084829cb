"""One run of one unit of work: prepare (tables, where to start), write its batches through the source's
plan, and turn the outcome into a RunResult. A failed run never raises: the failure is in the result.

`run_unit` runs one unit inside a run someone else holds (a fan-out's child, a range), with nothing but
the config and the database; engine/launch.py runs a pipeline as a run of its own (its lease and its row
in `batchsync_runs`). What differs per kind of source is in engine/plans/.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from batchsync.database import database_errors, open_database
from batchsync.engine.liverecord import LiveRunRecord
from batchsync.engine.options import ProgressCallback
from batchsync.engine.plans import plan_for
from batchsync.engine.starting import starting_checkpoint
from batchsync.engine.stored import committed_checkpoint, stored_state
from batchsync.engine.unit import WorkUnit
from batchsync.engine.writepath import BatchContext, Batches, PassOutcome
from batchsync.errors import BatchsyncError, DatabaseCallError, QuotaExhaustedError
from batchsync.http.client import HttpClient
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.wiring import open_http_client
from batchsync.models import Checkpoint, RunResult, RunStatus
from batchsync.redaction import Redactor
from batchsync.sinks.schema import table_exists
from batchsync.state.tables import ensure_state_tables

log = logging.getLogger("batchsync.engine")


def run_unit(
    unit: WorkUnit,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    rate_limiter: RateLimiter | None = None,
) -> RunResult:
    """Run one unit of work to the end of its pass, or until `stop` is set, inside run `unit.run_id`,
    whose lease and row the caller holds: each committed batch is added to that row. `rate_limiter`: the
    run's, shared with the units running beside this one (a fan-out's children); None makes one from the
    unit's pipeline. Never raises for a failed run; raises ConfigError/SinkError/CheckpointError when the
    unit cannot start at all."""
    run = UnitRun(unit, stop, on_progress, rate_limiter=rate_limiter)
    started_at = datetime.now(UTC)
    engine = open_for(unit)
    try:
        return run.run(engine, run.prepare(engine), started_at)
    finally:
        engine.dispose()


def open_for(unit: WorkUnit) -> Engine:
    config = unit.config
    return open_database(config.database, read_only=unit.options.dry_run, state_schema=config.state_schema)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Where the unit starts, and what the database held before it did."""

    start: Checkpoint
    has_table: bool
    has_dead_letters: bool


class UnitRun:
    """One run of one unit; its plan is made (and the config checked) before anything is opened."""

    def __init__(
        self,
        unit: WorkUnit,
        stop: threading.Event | None,
        on_progress: ProgressCallback | None,
        *,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.unit = unit
        self.rate_limiter = rate_limiter
        self.plan = plan_for(unit.pipeline, unit.options, only_ids=unit.only_ids)
        self.pipeline = self.plan.pipeline
        self.redactor = Redactor(unit.config.env_secrets | self.pipeline.secret_values())
        self.stop = stop or threading.Event()
        self.on_progress = on_progress

    def prepare(self, engine: Engine) -> Prepared:
        """Make the tables ready and decide where to start. Raises CheckpointError for a pass that
        cannot resume, SinkError for a database that refuses."""
        dry_run = self.unit.options.dry_run
        if not dry_run:
            ensure_state_tables(engine)
        self.plan.prepare_table(engine, dry_run)
        destination = self.pipeline.destination
        has_table = table_exists(engine, destination.table, destination.db_schema)
        stored, has_dead_letters = stored_state(engine, self.unit)
        start = starting_checkpoint(
            stored,
            self.plan.identity(),
            pipeline=self.unit.name,
            source=self.pipeline.source,
            incremental=self.plan.incremental,
            full_refresh=self.unit.options.full_refresh,
            now=datetime.now(UTC),
            redactor=self.redactor,
        )
        if start is stored:
            log.info(
                "%s: resuming at cursor %r (+%d records), %d records already committed in this pass",
                self.unit.name,
                start.cursor,
                start.skip_records,
                start.pass_records,
            )
        return Prepared(start, has_table, has_dead_letters)

    def run(self, engine: Engine, prepared: Prepared, started_at: datetime) -> RunResult:
        endpoint, limiter = self.plan.endpoint, self.rate_limiter
        with open_http_client(self.pipeline, endpoint, self.redactor, limiter) as client:
            batches = self.plan.batches(self._context(engine, client, prepared))
            status, error, outcome = self._write(engine, batches, prepared.start)
        final = outcome.final
        if status is RunStatus.CANCELLED or self.unit.only_ids:  # a targeted run reports the pass as it is
            final = committed_checkpoint(engine, self.unit, final)
        result = RunResult(
            run_id=self.unit.run_id,
            pipeline=self.unit.name,
            trigger=self.unit.options.trigger,
            status=status,
            started_at=started_at,
            finished_at=datetime.now(UTC),
            api_calls=client.api_calls,
            pages=batches.pages,
            counts=batches.counts,
            is_pass_complete=final.is_complete,
            dry_run=self.unit.options.dry_run,
            error=error,
            dead_letters=tuple(batches.dead_letters),
            warnings=tuple(outcome.warnings),
            drift=outcome.drift,
            retries=client.retries,
            deleted=batches.deleted,
            only=self.unit.only_ids,
            committed_batches=batches.batches_committed,
        )
        name, synced = self.unit.name, result.total_synced
        log.info("%s %s: %d records, %d API calls", name, status.value, synced, result.api_calls)
        return result

    def _context(self, engine: Engine, client: HttpClient, prepared: Prepared) -> BatchContext:
        unit = self.unit
        live_record = None  # a dry run has no row to keep up to date
        if not unit.options.dry_run:
            calls = lambda: (client.api_calls, client.retries)  # noqa: E731 - read at each commit
            live_record = LiveRunRecord(unit.run_id, calls=calls, reports_position=unit.reports_position)
        return BatchContext(
            unit=unit,
            pipeline=self.pipeline,
            client=client,
            redactor=self.redactor,
            stop=self.stop,
            on_progress=self.on_progress,
            dialect=engine.dialect.name,
            live_record=live_record,
            has_dead_letters=prepared.has_dead_letters,
            table_exists=prepared.has_table,
        )

    def _write(
        self, engine: Engine, batches: Batches, start: Checkpoint
    ) -> tuple[RunStatus, str | None, PassOutcome]:
        """Write the batches; the run's status and error, whatever happened (never raises for a failure)."""
        status, error, outcome = RunStatus.SUCCEEDED, None, PassOutcome(start)
        try:
            with database_errors(), engine.connect() as connection:  # one connection, a transaction per batch
                outcome = batches.write(connection, start)
            if not outcome.final.is_complete and not self.unit.only_ids:
                status = RunStatus.CANCELLED
            elif batches.dead_letters:
                status = RunStatus.PARTIAL
        except QuotaExhaustedError as exc:
            status, error = RunStatus.CANCELLED, self.redactor.redact(str(exc))
        except KeyboardInterrupt:
            status, error = RunStatus.CANCELLED, "interrupted"
        except DatabaseCallError as exc:  # straight from the database, without a word on what it was doing
            status, error = RunStatus.FAILED, self.redactor.redact(f"the database failed: {exc.reason}")
        except BatchsyncError as exc:
            status, error = RunStatus.FAILED, self.redactor.redact(str(exc))
            log.info("%s failed: %s", self.unit.name, error)
        except Exception as exc:  # a bug: record it as a failed run rather than a ghost "running" one
            status, error = RunStatus.FAILED, self.redactor.redact(f"internal error: {exc!r}")
            log.exception("%s failed with an internal error", self.unit.name)
        return status, error, outcome
