"""What a worker does with one unit's task: load its own config (secrets from its own environment), read
the unit from `batchsync_units`, take the unit's lease, run it as the local engine would, and write what
it came to back to the row.

The task's message holds the pipeline's name, the run's id and the unit's id, nothing else. A copy of a
task that already ran (a redelivery after a lost worker, or after the visibility timeout) finds its
unit final and returns; a copy whose unit is still running elsewhere waits for the unit's lease, so a
unit never runs twice at once. A unit that was taken by a worker that died is resumed from its
checkpoint: its batches and checkpoint were committed together, so nothing is lost or written twice.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from batchsync.config import Config, load_config
from batchsync.database import open_database
from batchsync.distributed.dispatch import options_of
from batchsync.distributed.lookup import Shard, shard_unit
from batchsync.distributed.outcome import UnitOutcome
from batchsync.distributed.ratelimit import shared_rate_limiter
from batchsync.engine.options import RunOptions
from batchsync.engine.partitions.ranges import Range
from batchsync.engine.partitions.run import PartitionedRun
from batchsync.engine.partitions.summary import part_result
from batchsync.engine.run import run_unit
from batchsync.engine.unit import WorkUnit
from batchsync.errors import BatchsyncError, ConfigError, RunConflictError
from batchsync.fanout.entities import Decision
from batchsync.fanout.run import FanoutRun
from batchsync.http.ratelimit import RateLimiter
from batchsync.logs import run_context
from batchsync.models import EntityStatus, RunStatus, WriteCounts
from batchsync.redaction import Redactor
from batchsync.state import units
from batchsync.state.bookkeeping import Bookkeeping
from batchsync.state.cancels import CancelWatch, is_cancel_requested
from batchsync.state.leases import Lease
from batchsync.state.units import UnitRow, UnitStatus, lease_name

log = logging.getLogger("batchsync.worker")

LEASE_WAIT_SECONDS = 1.0


class WorkerConfig:
    """The config file a worker was started with, read again when it changes (no restart needed)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._loaded: tuple[float, Config] | None = None
        self._lock = threading.Lock()

    def get(self) -> Config:
        """The config as the file says now. Raises ConfigError for a file that no longer loads (the task
        then fails in Celery's log, and its unit waits: fix the file, and rerun)."""
        with self._lock:
            mtime = self._path.stat().st_mtime if self._path is not None else 0.0
            if self._loaded is None or self._loaded[0] != mtime:
                self._loaded = (mtime, load_config(self._path))
            return self._loaded[1]


def run_task(config: Config, pipeline: str, run_id: str, unit_id: str) -> None:
    """Run unit `unit_id` of run `run_id` of `pipeline`, unless it has ended already."""
    engine = open_database(config.database, state_schema=config.state_schema)
    try:
        with run_context(run_id, pipeline):
            _run_task(engine, config, pipeline, run_id, unit_id)
    finally:
        engine.dispose()


def _run_task(engine: Engine, config: Config, pipeline: str, run_id: str, unit_id: str) -> None:
    row = units.get(engine, run_id, unit_id)
    if row is None or row.status.is_final:
        log.info("%s: unit %s has ended already; nothing to do", pipeline, unit_id)
        return
    redactor = Redactor(config.secret_values(pipeline))
    try:
        lease_seconds = config.pipeline(pipeline).lease_seconds
    except ConfigError as exc:  # this worker's config lacks the pipeline (or its secrets)
        _fail(engine, row, redactor.redact(str(exc)))
        return
    lease = Lease(engine, lease_name(pipeline, unit_id), run_id, lease_seconds)
    if not _take_lease(engine, lease, run_id, unit_id):
        return
    try:
        taken = units.take(engine, run_id, unit_id)
        if taken is None:
            return
        if is_cancel_requested(engine, run_id):
            units.finish(engine, run_id, unit_id, UnitStatus.INTERRUPTED, _interrupted().to_json())
            return
        outcome = _run_watched(engine, config, taken)
        status = UnitStatus.INTERRUPTED if outcome.status is RunStatus.CANCELLED else UnitStatus.DONE
        units.finish(engine, run_id, unit_id, status, outcome.to_json())
    except BatchsyncError as exc:  # the unit cannot run here (its config, the database): it fails
        _fail(engine, row, redactor.redact(str(exc)))
    except Exception as exc:  # a bug: the unit fails with it, rather than waiting forever as "running"
        log.exception("%s: unit %s failed with an internal error", pipeline, unit_id)
        _fail(engine, row, redactor.redact(f"internal error: {exc!r}"))
    finally:
        lease.release(Bookkeeping(engine))


def _fail(engine: Engine, row: UnitRow, error: str) -> None:
    log.error("%s: unit %s failed: %s", row.pipeline, row.unit_id, error)
    units.finish(engine, row.run_id, row.unit_id, UnitStatus.FAILED, UnitOutcome.failed(error).to_json())


def _take_lease(engine: Engine, lease: Lease, run_id: str, unit_id: str) -> bool:
    """Take the unit's lease, waiting while another copy of the task holds it; False once the unit has
    ended meanwhile (that copy finished it)."""
    told = False
    while True:
        try:
            lease.acquire(datetime.now(UTC))
            return True
        except RunConflictError:
            if not told:
                log.info("unit %s is running on another worker: waiting for its lease", unit_id)
                told = True
            row = units.get(engine, run_id, unit_id)
            if row is None or row.status.is_final:
                return False
            time.sleep(LEASE_WAIT_SECONDS)


def _run_watched(engine: Engine, config: Config, row: UnitRow) -> UnitOutcome:
    """Run the unit with a watch on the run's row: a cancel request stops it at a batch boundary."""
    stop = threading.Event()
    watch = CancelWatch(engine, row.run_id, stop)
    watch.start()
    try:
        return execute_unit(config, row, stop)
    finally:
        watch.close()


def execute_unit(config: Config, row: UnitRow, stop: threading.Event) -> UnitOutcome:
    """The unit's work, by kind, as the local engine does it; the rate limit shared through Redis."""
    name, spec = row.pipeline, row.spec
    options = options_of(spec.get("options"), row.run_id)
    pipeline = config.pipeline(name)
    limiter = shared_rate_limiter(config.execution_for(name), name, pipeline)
    kind = spec.get("kind")
    if kind == "entity":
        return _entity(config, name, options, row, stop, limiter)
    if kind == "range":
        partitioned = PartitionedRun(config, name, options, row.run_id, stop, None, rate_limiter=limiter)
        part = Range(str(spec["lo"]), str(spec["hi"]))
        entity = partitioned.sync_range(part)
        status = RunStatus.CANCELLED if entity is None else RunStatus.SUCCEEDED
        return UnitOutcome.of_runs(entity, partitioned.range_results, status=status)
    if kind == "shard":
        shard = Shard(spec.get("after"), spec.get("last"))
        started = time.monotonic()
        unit = shard_unit(config, name, shard, run_id=row.run_id, options=options)
        result = run_unit(unit, stop=stop, rate_limiter=limiter)
        if result.status is RunStatus.CANCELLED:
            return UnitOutcome.of_runs(None, [result], status=result.status)
        entity = part_result(shard.id, result, time.monotonic() - started)
        return UnitOutcome.of_runs(entity, [result], status=result.status)
    if kind == "pipeline":
        result = run_unit(WorkUnit.of_pipeline(config, name, options), stop=stop, rate_limiter=limiter)
        return UnitOutcome.of_runs(None, [result], status=result.status)
    raise BatchsyncError(f"unit {row.unit_id} is of an unknown kind {kind!r}")


class _Decisions:
    """The entities of the runs this worker process served last, listed once per run: a fan-out over
    an API's list would otherwise fetch the whole list again for every entity it hands out."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._by_run: collections.OrderedDict[str, dict[str, Decision]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def of(self, fanout: FanoutRun, engine: Engine, entity_id: str) -> Decision:
        with self._lock:
            known = self._by_run.get(fanout.run_id)
            if known is None or entity_id not in known:
                known = {decision.id: decision for decision in fanout.decisions(engine)}
                self._by_run[fanout.run_id] = known
                while len(self._by_run) > self._size:
                    self._by_run.popitem(last=False)
        if entity_id not in known:
            raise ConfigError(f"{fanout.name}: entity {entity_id} is no longer listed")
        return known[entity_id]


_decisions = _Decisions()


def _entity(
    config: Config, name: str, options: RunOptions, row: UnitRow, stop: threading.Event, limiter: RateLimiter
) -> UnitOutcome:
    fanout = FanoutRun(config, name, options, row.run_id, (), stop, rate_limiter=limiter)
    engine = open_database(config.database, state_schema=config.state_schema)
    try:
        decision = _decisions.of(fanout, engine, str(row.spec["entity"]))
    finally:
        engine.dispose()
    result = fanout.sync_entity(decision)
    if result is None:
        return _interrupted()
    status = RunStatus.FAILED if result.status is EntityStatus.FAILED else RunStatus.SUCCEEDED
    return UnitOutcome(
        entity=result,
        status=status,
        counts=result.counts,
        api_calls=fanout.api_calls,
        pages=fanout.pages,
        committed_batches=fanout.committed_batches,
        dead_letters=tuple(fanout.dead_letters),
    )


def _interrupted() -> UnitOutcome:
    return UnitOutcome(entity=None, status=RunStatus.CANCELLED, counts=WriteCounts(), error="interrupted")
