"""One fan-out run: decide who is synced, then run each eligible entity's children as units of work
(engine.run.run_unit), one entity at a time or up to `concurrency` at once, under the fan-out's lease
and in its one row of `batchsync_runs`. The fan-out's checkpoint lists the entities done, so an
interrupted fan-out resumes with the rest; one entity's failure never stops the others.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import Engine

from batchsync.config import Config
from batchsync.config.execution import ExecutionConfig
from batchsync.database import open_database
from batchsync.distributed.outcome import UnitOutcome
from batchsync.engine.ending import run_under_lease
from batchsync.engine.options import Progress, ProgressCallback, RunOptions
from batchsync.engine.run import run_unit
from batchsync.errors import BatchsyncError, ConfigError, DatabaseCallError, SinkError
from batchsync.fanout.children import child_unit
from batchsync.fanout.entities import Decision, decide, list_entities
from batchsync.fanout.remote import run_on_workers
from batchsync.fanout.summary import FanoutTotals, dry_entity, fanout_result
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.wiring import rate_limiter_for
from batchsync.logs import run_context
from batchsync.models import (
    Checkpoint,
    DeadLetterReport,
    EntityResult,
    EntityStatus,
    JSONObject,
    RunResult,
    RunStatus,
    WriteCounts,
)
from batchsync.state import checkpoints, runs
from batchsync.state.leases import Lease
from batchsync.state.tables import ensure_state_tables

log = logging.getLogger("batchsync.fanout")


def run_fanout(
    config: Config,
    name: str,
    options: RunOptions,
    *,
    only: Sequence[str] = (),
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Sync every eligible entity of fan-out pipeline `name`. Never raises for entity failures.
    `on_progress` hears of entities done out of all, and of the records and pages of their syncs."""
    return prepare_fanout(config, name, options, only=only, stop=stop, on_progress=on_progress)()


def prepare_fanout(
    config: Config,
    name: str,
    options: RunOptions,
    *,
    only: Sequence[str] = (),
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    execution: ExecutionConfig | None = None,
) -> Callable[[], RunResult]:
    """The fan-out's run, checked (ConfigError now) and ready: calling it runs it. `execution`: a
    distributed one hands each entity to the Celery workers (distributed/dispatch.py)."""
    run_id = options.run_id or str(uuid.uuid4())
    fanout = FanoutRun(
        config, name, options, run_id, only, stop or threading.Event(), on_progress, execution=execution
    )

    def start() -> RunResult:
        with run_context(run_id, name):
            return fanout.execute()

    return start


class FanoutRun:
    def __init__(
        self,
        config: Config,
        name: str,
        options: RunOptions,
        run_id: str,
        only: Sequence[str],
        stop: threading.Event,
        on_progress: ProgressCallback | None = None,
        *,
        execution: ExecutionConfig | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        pipeline = config.pipeline(name)
        source = pipeline.source.as_fanout()
        if source is None:
            raise ConfigError(f"{name} is not a fan-out pipeline")
        self.config = config
        self.name = name
        self.pipeline = pipeline
        self.source = source
        self.options = options
        self.run_id = run_id
        self.only = {item.strip() for item in only if item.strip()}
        self.stop = stop
        self.execution = execution
        self.rate_limiter = rate_limiter or rate_limiter_for(pipeline)
        """The run's one limiter: the entity listing and every child sync, concurrent ones alike, share
        the fan-out's `rate_limit` and the pauses the API asks for, whatever endpoint each child calls."""
        self._lock = threading.Lock()
        self.api_calls = 0
        self.pages = 0
        self.committed_batches = 0
        self.dead_letters: list[DeadLetterReport] = []
        self.on_progress = on_progress
        self.entities_done = 0
        self.entities_total = 0
        self._child_progress: dict[str, Progress] = {}  # by child state key: the latest report of each
        self.unknown: list[str] = []
        """Ids --only named that are no entity at all (an entity the rules skip is reported as skipped)."""
        self._entity_count = 0

    def execute(self) -> RunResult:
        started_at = datetime.now(UTC)
        engine = open_database(
            self.config.database, read_only=self.options.dry_run, state_schema=self.config.state_schema
        )
        try:
            if not self.options.dry_run:
                ensure_state_tables(engine)
            entities = list_entities(
                engine, self.config, self.name, self.pipeline, self.source, self.rate_limiter
            )
            decisions = [decide(engine, self.source, entity) for entity in entities]
            if self.only:
                self.unknown = sorted(self.only - {decision.id for decision in decisions})
                decisions = [decision for decision in decisions if decision.id in self.only]
            if self.options.dry_run:
                return self._result(started_at, [dry_entity(decision) for decision in decisions], None)
            lease = Lease(engine, self.name, self.run_id, self.pipeline.lease_seconds)
            return run_under_lease(
                engine, lease, started_at, lambda: self._run(engine, decisions, started_at), stop=self.stop
            )
        finally:
            engine.dispose()

    def _run(self, engine: Engine, decisions: list[Decision], started_at: datetime) -> RunResult:
        done, checkpoint = self._progress(engine)
        runs.record_start(engine, self.run_id, self.name, self.options.trigger, started_at)
        pending = [decision for decision in decisions if decision.id not in done]
        self.entities_total = len(decisions)
        self.entities_done = len(decisions) - len(pending)  # done by the run this one resumes
        self._entity_count = len(decisions)
        results = self._run_all(engine, pending, done, checkpoint)
        is_complete = not self.stop.is_set() and len(results) == len(pending)
        if is_complete and not self.only:
            self._save(engine, checkpoint, done, is_complete=True)
        return self._result(started_at, results, None if is_complete else "interrupted")

    # --- syncing ------------------------------------------------------------------------------------------

    def _run_all(
        self, engine: Engine, decisions: list[Decision], done: set[str], checkpoint: Checkpoint
    ) -> list[EntityResult]:
        def one(decision: Decision) -> EntityResult | None:
            if self.stop.is_set():
                return None
            result = self.sync_entity(decision)
            if result is None:  # interrupted part-way: not done, the resumed fan-out syncs it again
                return None
            self.processed(engine, checkpoint, done, decision.id)
            return result

        if self.execution is not None:
            finished = functools.partial(self.processed, engine, checkpoint, done, reports=False)
            return run_on_workers(self, engine, self.execution, decisions, finished)
        if self.source.concurrency == 1:
            outcomes = [one(decision) for decision in decisions]
        else:
            with ThreadPoolExecutor(
                max_workers=self.source.concurrency, thread_name_prefix="batchsync-entity"
            ) as pool:
                outcomes = list(pool.map(one, decisions))
        return [outcome for outcome in outcomes if outcome is not None]

    def processed(
        self, engine: Engine, checkpoint: Checkpoint, done: set[str], entity_id: str, *, reports: bool = True
    ) -> None:
        """Entity `entity_id` is processed, whatever its outcome: a resumed fan-out goes on with the rest.
        `reports`: tell `on_progress` (a distributed run reports the run row's figures instead)."""
        with self._lock:
            done.add(entity_id)
            if not self.only:
                self._save(engine, checkpoint, done, is_complete=False)
            self.entities_done += 1
            if reports:
                self._report_progress()

    def decisions(self, engine: Engine) -> list[Decision]:
        """Every entity's decision, listed and decided as the fan-out's own run does (for a worker
        running one entity of it)."""
        listed = list_entities(engine, self.config, self.name, self.pipeline, self.source, self.rate_limiter)
        return [decide(engine, self.source, entity) for entity in listed]

    def sync_entity(self, decision: Decision) -> EntityResult | None:
        """The entity's outcome, or None when a stop interrupted it before all its children were done."""
        started = time.monotonic()
        if decision.skip_reason is not None:
            log.info("%s: skipped (%s)", decision.id, decision.skip_reason)
            return EntityResult(
                decision.id, decision.label, EntityStatus.SKIPPED, reason=decision.skip_reason
            )
        counts, errors = WriteCounts(), []
        for child_id, child in decision.children:
            if self.stop.is_set():
                return None
            try:
                result = self._sync_child(decision, child_id, child)
            except BatchsyncError as exc:  # this child cannot run (config, database): the entity fails
                errors.append(f"{child_id}: {exc}")
                continue
            if result.status is RunStatus.CANCELLED:
                return None
            counts += result.counts
            self.add_totals(result)
            if result.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
                errors.append(f"{child_id}: {result.error or result.status.value}")
        duration = time.monotonic() - started
        status = EntityStatus.FAILED if errors else EntityStatus.SUCCEEDED
        log.info("%s: %s", decision.id, status.value)
        return EntityResult(
            decision.id,
            decision.label,
            status,
            error="; ".join(errors) or None,
            counts=counts,
            duration_seconds=duration,
            children=len(decision.children),
        )

    def _sync_child(self, decision: Decision, child_id: str, child: JSONObject) -> RunResult:
        unit = child_unit(
            self.config,
            self.name,
            self.pipeline,
            self.source,
            decision,
            (child_id, child),
            run_id=self.run_id,
            options=self.options,
        )
        progressed = functools.partial(self._child_progressed, unit.state_key)
        return run_unit(unit, stop=self.stop, on_progress=progressed, rate_limiter=self.rate_limiter)

    def add_totals(self, result: RunResult | UnitOutcome) -> None:
        """Count a child sync's (or a worker's entity's) calls, pages, batches and dead letters."""
        with self._lock:
            self.dead_letters.extend(result.dead_letters)
            self.api_calls += result.api_calls
            self.pages += result.pages
            self.committed_batches += result.committed_batches

    # --- progress and results -----------------------------------------------------------------------

    def _child_progressed(self, state_key: str, progress: Progress) -> None:
        with self._lock:
            self._child_progress[state_key] = progress
            self._report_progress()

    def _report_progress(self) -> None:
        """Entities done out of all, with the records and pages of every child sync so far (in flight
        or finished). Called with `_lock` held, so reports from concurrent entities never interleave."""
        if self.on_progress is None:
            return
        done, total = self.entities_done, self.entities_total
        self.on_progress(Progress.of_parts(self._child_progress.values(), done=done, total=total))

    def _progress(self, engine: Engine) -> tuple[set[str], Checkpoint]:
        with engine.connect() as connection:
            stored = checkpoints.load(connection, self.name)
        if stored is not None and stored.is_started and not self.options.full_refresh and not self.only:
            done = set(stored.cursor.get("done", [])) if isinstance(stored.cursor, dict) else set()
            log.info("%s: resuming a fan-out with %d entities already done", self.name, len(done))
            return done, stored
        return set(), Checkpoint(cursor={"done": []}, pass_started_at=datetime.now(UTC), fingerprint="fanout")

    def _save(self, engine: Engine, checkpoint: Checkpoint, done: set[str], *, is_complete: bool) -> None:
        following = dataclasses.replace(
            checkpoint,
            cursor=None if is_complete else {"done": sorted(done)},
            is_complete=is_complete,
            pass_records=len(done),
            last_synced_at=datetime.now(UTC),
        )
        # The run's row says how far the fan-out is; its child syncs add their batches to the row's counts.
        position = runs.RunPosition(
            {"entities_done": len(done), "entities": self._entity_count}, is_pass_complete=is_complete
        )
        try:
            with engine.begin() as connection:
                checkpoints.save(connection, self.name, following)
                runs.record_batch(connection, self.run_id, runs.BatchTally(), position)
        except DatabaseCallError as exc:
            raise SinkError(f"cannot save the fan-out's progress: {exc.reason}") from exc
        self.committed_batches += 1

    def _result(
        self, started_at: datetime, results: list[EntityResult], interruption: str | None
    ) -> RunResult:
        totals = FanoutTotals(
            run_id=self.run_id,
            pipeline=self.name,
            options=self.options,
            api_calls=self.api_calls,
            pages=self.pages,
            committed_batches=self.committed_batches,
            dead_letters=self.dead_letters,
            only=sorted(self.only),
            unknown=self.unknown,
            entities=self.source.entities,
        )
        return fanout_result(totals, started_at, results, interruption)
