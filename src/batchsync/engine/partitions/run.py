"""One run of a partitioned pull: each range a unit of work (engine.run.run_unit), one at a time or up
to `concurrency` at once, under the pipeline's lease and in its one row of `batchsync_runs`.

The pipeline's own checkpoint lists the ranges done in this pass, committed as each finishes: a rerun
skips those, resumes an unfinished range from its own checkpoint, and tries a failed one again. One
range failing never stops the others. Once every range is done the pass is complete (its dead letters
from before the pass are settled then), and the next run begins a new pass over all of them.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine

from batchsync.config import Config
from batchsync.config.execution import ExecutionConfig
from batchsync.database import open_database
from batchsync.distributed.dispatch import run_parts_remotely
from batchsync.engine.ending import run_under_lease
from batchsync.engine.options import Progress, ProgressCallback, RunOptions
from batchsync.engine.partitions.ranges import Range, range_unit, ranges_of
from batchsync.engine.partitions.summary import part_result, partitioned_result, totals_of
from batchsync.engine.plans import partitioned_source
from batchsync.engine.run import run_unit
from batchsync.errors import BatchsyncError, ConfigError, DatabaseCallError, SinkError
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.wiring import rate_limiter_for
from batchsync.logs import run_context
from batchsync.models import (
    Checkpoint,
    EntityResult,
    EntityStatus,
    RunResult,
    RunStatus,
)
from batchsync.state import checkpoints, deadletters, runs
from batchsync.state.leases import Lease
from batchsync.state.tables import ensure_state_tables

log = logging.getLogger("batchsync.engine")


def run_partitioned(
    config: Config,
    name: str,
    options: RunOptions,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Sync every range of partitioned pipeline `name`. Never raises for a range's failure; raises
    ConfigError for a pipeline that is not partitioned, RunConflictError when another run holds it."""
    return prepare_partitioned(config, name, options, stop=stop, on_progress=on_progress)()


def prepare_partitioned(
    config: Config,
    name: str,
    options: RunOptions,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    execution: ExecutionConfig | None = None,
) -> Callable[[], RunResult]:
    """The partitioned pull's run, checked (ConfigError now) and ready: calling it runs it. `execution`:
    a distributed one hands each range to the Celery workers (distributed/dispatch.py)."""
    run_id = options.run_id or str(uuid.uuid4())
    partitioned = PartitionedRun(
        config, name, options, run_id, stop or threading.Event(), on_progress, execution=execution
    )

    def start() -> RunResult:
        with run_context(run_id, name):
            return partitioned.execute()

    return start


class PartitionedRun:
    def __init__(
        self,
        config: Config,
        name: str,
        options: RunOptions,
        run_id: str,
        stop: threading.Event,
        on_progress: ProgressCallback | None,
        *,
        execution: ExecutionConfig | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        pipeline = config.pipeline(name)
        source = partitioned_source(pipeline.source)
        if source is None or source.partition is None:
            raise ConfigError(f"{name} is not a partitioned pipeline")
        for param in options.params:
            if param in source.partition.sent_params():
                raise ConfigError(f"--param {param}: each range of {name} sets {param} itself")
        self.config, self.name, self.pipeline, self.source = config, name, pipeline, source
        self.options, self.run_id, self.stop, self.on_progress = options, run_id, stop, on_progress
        self.ranges = ranges_of(source.partition, datetime.now(UTC))
        self.concurrency = options.concurrency or pipeline.concurrency
        self.execution = execution
        # One for every range: together they keep the rate (a worker's is shared through Redis).
        self.rate_limiter = rate_limiter or rate_limiter_for(pipeline)
        self._lock = threading.Lock()
        self._results: list[RunResult] = []
        self._latest: dict[str, Progress] = {}  # by range id: the latest report of each
        self._done: set[str] = set()
        self._committed = 0
        self._interruption: str | None = None

    def execute(self) -> RunResult:
        started_at = datetime.now(UTC)
        engine = open_database(
            self.config.database, read_only=self.options.dry_run, state_schema=self.config.state_schema
        )
        try:
            if self.options.dry_run:
                return self._result(started_at, self._run_all(engine, self.ranges, None))
            ensure_state_tables(engine)
            lease = Lease(engine, self.name, self.run_id, self.pipeline.lease_seconds)
            return run_under_lease(
                engine, lease, started_at, lambda: self._run(engine, started_at), stop=self.stop
            )
        finally:
            engine.dispose()

    def _run(self, engine: Engine, started_at: datetime) -> RunResult:
        checkpoint, is_new = self._pass(engine)
        runs.record_start(engine, self.run_id, self.name, self.options.trigger, started_at)
        if is_new:  # kept at once: the pass began now, and its dead letters are settled by that moment
            self._save(engine, checkpoint)
        before = [
            EntityResult(part.id, None, EntityStatus.SKIPPED, reason="done earlier in this pass")
            for part in self.ranges
            if part.id in self._done
        ]
        pending = [part for part in self.ranges if part.id not in self._done]
        if self.execution is not None:
            outcomes = self._run_remote(engine, self.execution, pending, checkpoint, started_at)
        else:
            outcomes = self._run_all(engine, pending, checkpoint)
        if self._is_complete():
            self._save(engine, checkpoint)
        return self._result(started_at, before + outcomes)

    # --- syncing --------------------------------------------------------------------------------------

    def _run_all(
        self, engine: Engine, parts: list[Range], checkpoint: Checkpoint | None
    ) -> list[EntityResult]:
        def one(part: Range) -> EntityResult | None:
            if self.stop.is_set():
                return None
            outcome = self._sync(part)
            if outcome is not None and outcome.status is EntityStatus.SUCCEEDED and checkpoint is not None:
                with self._lock:
                    self._done.add(part.id)
                    self._save(engine, checkpoint)
            return outcome

        if self.concurrency == 1 or len(parts) <= 1:
            outcomes = [one(part) for part in parts]
        else:
            workers = min(self.concurrency, len(parts))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="batchsync-range") as pool:
                outcomes = list(pool.map(one, parts))
        return [outcome for outcome in outcomes if outcome is not None]

    def _run_remote(
        self,
        engine: Engine,
        execution: ExecutionConfig,
        parts: list[Range],
        checkpoint: Checkpoint,
        started_at: datetime,
    ) -> list[EntityResult]:
        """Each range as a unit on the Celery workers (a dry run never comes here: it writes nothing)."""

        def succeeded(part_id: str) -> None:
            self._done.add(part_id)
            self._save(engine, checkpoint)

        remote = run_parts_remotely(
            engine,
            execution,
            self.name,
            self.run_id,
            self.options,
            self.stop,
            {
                f"range:{part.id}": (part.id, {"kind": "range", "lo": part.lo, "hi": part.hi})
                for part in parts
            },
            started_at=started_at,
            on_succeeded=succeeded,
            on_progress=self.on_progress,
            lease_seconds=self.pipeline.lease_seconds,
            done_before=len(self._done),
            total=len(self.ranges),
        )
        self._results.extend(remote.results)
        if remote.interruption is not None:  # the unit's own words, as a range run here would give
            self._interruption = self._interruption or remote.interruption
        return remote.entities

    def sync_range(self, part: Range) -> EntityResult | None:
        """Sync one range (a worker's unit of a distributed pull); see `_sync`."""
        return self._sync(part)

    @property
    def range_results(self) -> list[RunResult]:
        """The runs of the ranges synced so far by this object."""
        return list(self._results)

    def _sync(self, part: Range) -> EntityResult | None:
        """The range's outcome, or None when a stop (or a spent quota) interrupted it: not done, so the
        next run resumes it from its checkpoint."""
        started = time.monotonic()
        unit = range_unit(
            self.config, self.name, self.pipeline, self.source, part, run_id=self.run_id, options=self.options
        )
        try:
            progressed = functools.partial(self._progressed, part.id)
            result = run_unit(unit, stop=self.stop, on_progress=progressed, rate_limiter=self.rate_limiter)
        except BatchsyncError as exc:  # the range cannot start (its checkpoint, the database): it fails
            return EntityResult(part.id, None, EntityStatus.FAILED, error=str(exc))
        with self._lock:
            self._results.append(result)
            if result.status is RunStatus.CANCELLED:
                self._interruption = self._interruption or result.error or "interrupted"
                return None
        log.info("%s range %s: %s", self.name, part.id, result.status.value)
        return part_result(part.id, result, time.monotonic() - started)

    # --- the pipeline's checkpoint --------------------------------------------------------------------

    def _is_complete(self) -> bool:
        return all(part.id in self._done for part in self.ranges)

    def _pass(self, engine: Engine) -> tuple[Checkpoint, bool]:
        """The pass this run goes on with (the ranges it has done in `_done`), or a new one (True)."""
        with engine.connect() as connection:
            stored = checkpoints.load(connection, self.name)
        if stored is not None and stored.is_started and not self.options.full_refresh:
            if isinstance(stored.cursor, dict) and isinstance(stored.cursor.get("done"), list):
                self._done = {str(each) for each in stored.cursor["done"]}
            log.info("%s: resuming a partitioned pass with %d ranges done", self.name, len(self._done))
            return stored, False
        return Checkpoint(
            cursor={"done": []}, pass_started_at=datetime.now(UTC), fingerprint="partition"
        ), True

    def _save(self, engine: Engine, checkpoint: Checkpoint) -> None:
        """Commit the ranges done, with the run row's position; once all are, the complete pass, and the
        dead letters filed before it began go (every range has synced since)."""
        is_complete = self._is_complete()
        done = sorted(self._done & {part.id for part in self.ranges})
        following = dataclasses.replace(
            checkpoint,
            cursor=None if is_complete else {"done": done},
            is_complete=is_complete,
            pass_records=len(done),
            total_expected=len(self.ranges),
            last_synced_at=datetime.now(UTC),
        )
        position = runs.RunPosition({"ranges_done": len(done), "ranges": len(self.ranges)}, is_complete)
        try:
            with engine.begin() as connection:
                checkpoints.save(connection, self.name, following)
                if is_complete and checkpoint.pass_started_at is not None:
                    deadletters.remove_older_than(connection, self.name, checkpoint.pass_started_at)
                runs.record_batch(connection, self.run_id, runs.BatchTally(), position)
        except DatabaseCallError as exc:
            raise SinkError(f"cannot save the partitioned pull's progress: {exc.reason}") from exc
        self._committed += 1

    # --- progress and results -------------------------------------------------------------------------

    def _progressed(self, range_id: str, progress: Progress) -> None:
        with self._lock:
            self._latest[range_id] = progress
            self._report()

    def _report(self) -> None:
        """Ranges done out of all, with the records and pages of every range so far (called under `_lock`)."""
        if self.on_progress is None:
            return
        self.on_progress(
            Progress.of_parts(self._latest.values(), done=len(self._done), total=len(self.ranges))
        )

    def _interruption_of_run(self) -> str | None:
        if self._interruption is None and self.stop.is_set() and not self._is_complete():
            return "interrupted"
        return self._interruption

    def _result(self, started_at: datetime, outcomes: list[EntityResult]) -> RunResult:
        totals = totals_of(
            self._results,
            run_id=self.run_id,
            pipeline=self.name,
            options=self.options,
            own_batches=self._committed,
            is_complete=self._is_complete() and not self.options.dry_run,
            interruption=self._interruption_of_run(),
        )
        order = {part.id: index for index, part in enumerate(self.ranges)}
        return partitioned_result(totals, started_at, sorted(outcomes, key=lambda each: order[each.id]))
