"""The run's own process in a distributed run: it hands the units to the workers and waits for them.

The run keeps everything it has when it runs locally (its lease, its row in `batchsync_runs`, its
checkpoint, its result); only "run this unit" changes: instead of a thread calling it, a row in
`batchsync_units` and a Celery task name it, a worker runs it and writes what it came to, and this
process reads that back and goes on as if the thread had returned. Workers add every committed batch to
the run's row themselves, so the row's counts are live across machines; this process reads them for
its progress reports.

A stop (a cancel from the CLI, the API or the dashboard, which every worker reads from the run's row, or
Ctrl+C here, which this process writes there) reaches each worker's unit at its next batch boundary;
units still queued are marked interrupted here and never start. The run waits up to
`STOP_GRACE_SECONDS` for the running ones to say where they stopped. Units no worker holds a visibility
timeout after they were sent are sent again (a broker that lost its data loses their tasks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select, update

from batchsync.config import Condition, Config
from batchsync.config.execution import ExecutionConfig
from batchsync.database import database_errors, is_sqlite_url
from batchsync.distributed.celeryapp import check_broker, send_unit
from batchsync.distributed.outcome import UnitOutcome
from batchsync.engine.options import Progress, ProgressCallback, RunOptions
from batchsync.errors import ConfigError, DatabaseCallError
from batchsync.models import (
    EntityResult,
    EntityStatus,
    JSONObject,
    RunResult,
    RunStatus,
    Trigger,
    WriteCounts,
)
from batchsync.state import cancels, units
from batchsync.state.leases import live_holder
from batchsync.state.tables import runs as runs_table
from batchsync.state.tables import units as units_table
from batchsync.state.units import UnitStatus, lease_name

log = logging.getLogger("batchsync.distributed")

POLL_SECONDS = 0.25
STOP_GRACE_SECONDS = 60.0


def check_distributable(config: Config, name: str, execution: ExecutionConfig) -> None:
    """Refuse (ConfigError, exit 2) what cannot run on workers: a database only this machine reaches,
    or a broker nobody answers at. Nothing is written before this passes."""
    if is_sqlite_url(config.database):
        raise ConfigError(
            f"{name}: execution.backend celery needs a database every worker can reach, and SQLite is a "
            "file on one machine: use PostgreSQL (database: postgresql://…), or execution.backend: local"
        )
    check_broker(execution)


# --- the run's options, as the units' rows carry them ---------------------------------------------------


def options_json(options: RunOptions) -> JSONObject:
    """What a worker needs of the run's options (the run's id travels in the task)."""
    return {
        "trigger": options.trigger.value,
        "full_refresh": options.full_refresh,
        "page_size": options.page_size,
        "db_batch_size": options.db_batch_size,
        "concurrency": options.concurrency,
        "filters": {
            column: condition.model_dump(by_alias=True, exclude_none=True)
            for column, condition in options.filters.items()
        },
        "params": dict(options.params),
    }


def options_of(data: object, run_id: str) -> RunOptions:
    """The run's options back from `options_json`, inside run `run_id`."""
    if not isinstance(data, dict):
        raise ConfigError("a unit of this run has no options: it was queued by another batchsync version")

    def number(key: str) -> int | None:
        value = data.get(key)
        return int(value) if isinstance(value, int) else None

    filters = data.get("filters") or {}
    params = data.get("params") or {}
    return RunOptions(
        trigger=Trigger(str(data.get("trigger", Trigger.MANUAL.value))),
        full_refresh=bool(data.get("full_refresh")),
        page_size=number("page_size"),
        db_batch_size=number("db_batch_size"),
        concurrency=number("concurrency"),
        filters={str(column): Condition.model_validate(value) for column, value in dict(filters).items()},
        params={str(key): str(value) for key, value in dict(params).items()},
        run_id=run_id,
    )


# --- handing out units and waiting for them -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """One unit to hand out: its id within the run (`entity:acme`, `range:lo..hi`, `shard:3`, `pull`)
    and what it is (`kind` and its ids or bounds; the run's options are added). No secrets."""

    unit_id: str
    spec: JSONObject


class RemoteUnits:
    """Runs units of run `run_id` on the workers; `run` returns once each has an outcome (or the run was
    stopped and the grace period is over)."""

    def __init__(
        self,
        engine: Engine,
        execution: ExecutionConfig,
        name: str,
        run_id: str,
        options: RunOptions,
        stop: threading.Event,
        *,
        on_progress: ProgressCallback | None = None,
        lease_seconds: float = 60.0,
    ) -> None:
        self._engine = engine
        self._execution = execution
        self._name = name
        self._run_id = run_id
        self._options = options
        self._stop = stop
        self._on_progress = on_progress
        self._lease_seconds = lease_seconds
        """The pipeline's: how long a unit's lease outlives its worker's last heartbeat."""
        self._pause = threading.Event()  # never set: paces the polling, a stop or not

    def run(
        self,
        specs: Sequence[UnitSpec],
        finished: Callable[[str, UnitOutcome], None],
        *,
        done_before: int = 0,
        total: int | None = None,
    ) -> None:
        """Queue `specs` and call `finished(unit_id, outcome)` in this thread as each one ends: done,
        interrupted, or failed. `done_before` of `total` parts were done by the runs this one resumes."""
        if not specs:
            return
        options = options_json(self._options)
        units.add(
            self._engine,
            self._run_id,
            self._name,
            [(each.unit_id, {**each.spec, "options": options}) for each in specs],
        )
        for each in specs:
            send_unit(self._execution, self._name, self._run_id, each.unit_id)
        log.info(
            "%s: %d units queued for the workers (queue %s)", self._name, len(specs), self._execution.queue
        )
        pending = {each.unit_id for each in specs}
        total_parts = total if total is not None else len(specs) + done_before
        stopped_at: float | None = None
        sent_at = time.monotonic()
        while pending:
            if self._stop.is_set() and stopped_at is None:
                stopped_at = time.monotonic()
                self._stop_units()
            for row in units.of_run(self._engine, self._run_id):
                if row.unit_id in pending and row.status.is_final:
                    pending.discard(row.unit_id)
                    finished(row.unit_id, _outcome_of(row))
            self._report(done_before + len(specs) - len(pending), total_parts)
            now = time.monotonic()
            if not pending or (stopped_at is not None and now - stopped_at > STOP_GRACE_SECONDS):
                break
            if stopped_at is None and now - sent_at >= self._execution.visibility_timeout:
                self._send_again(pending)
                sent_at = now
            self._pause.wait(POLL_SECONDS)
        if pending:
            log.warning(
                "%s: %d units did not say where they stopped in time; a rerun resumes them",
                self._name,
                len(pending),
            )

    def _send_again(self, pending: set[str]) -> None:
        """Queue again the units no worker holds (no live lease) a visibility timeout after they were
        sent: their tasks may be lost (Redis restarted without its data, or flushed). A copy of a task
        still in the queue is harmless: it finds its unit ended, or waits for its lease."""
        orphans = [
            unit_id
            for unit_id in sorted(pending)
            if live_holder(self._engine, lease_name(self._name, unit_id), self._lease_seconds) is None
        ]
        for unit_id in orphans:
            send_unit(self._execution, self._name, self._run_id, unit_id)
        if orphans:
            log.warning(
                "%s: %d units held by no worker %ds after they were queued: queued again",
                self._name,
                len(orphans),
                self._execution.visibility_timeout,
            )

    def _stop_units(self) -> None:
        """Tell every worker (they read the run's row) and keep the queued units from starting."""
        cancels.request_cancel(self._engine, self._run_id)
        try:
            with database_errors(), self._engine.begin() as connection:
                connection.execute(
                    update(units_table)
                    .where(
                        units_table.c.run_id == self._run_id, units_table.c.status == UnitStatus.QUEUED.value
                    )
                    .values(status=UnitStatus.INTERRUPTED.value, outcome=None)
                )
        except DatabaseCallError as exc:
            log.warning(
                "could not mark the queued units stopped (the workers stop them anyway): %s", exc.reason
            )

    def _report(self, done: int, total: int) -> None:
        if self._on_progress is None:
            return
        try:
            with database_errors(), self._engine.connect() as connection:
                row = connection.execute(
                    select(
                        runs_table.c.pages,
                        runs_table.c.created,
                        runs_table.c.updated,
                        runs_table.c.unchanged,
                        runs_table.c.filtered,
                    ).where(runs_table.c.run_id == self._run_id)
                ).first()
        except DatabaseCallError:
            return  # a progress report is worth no failure
        if row is None:
            return
        counts = WriteCounts(int(row.created), int(row.updated), int(row.unchanged), int(row.filtered))
        pages = int(row.pages)
        self._on_progress(
            Progress.of_units(pages=pages, records=counts.total, counts=counts, done=done, total=total)
        )


def line_of(outcome: UnitOutcome, part_id: str, label: str | None = None) -> EntityResult | None:
    """The unit's line in the run's result: the worker's, a failed one for a unit its worker could not
    run, or None for one a stop interrupted (not done: the resumed run does it again)."""
    if outcome.entity is None and outcome.status is RunStatus.FAILED:
        return EntityResult(part_id, label, EntityStatus.FAILED, error=outcome.error)
    return outcome.entity


# --- the parts of a run (a partitioned pull's ranges, a lookup's shards) ---------------------------------


@dataclass(frozen=True, slots=True)
class PartsOutcome:
    """What the parts' units came to, for the run's result."""

    results: list[RunResult]
    """Each unit's run, interrupted ones included (their counts are the run's too), as they ended."""
    entities: list[EntityResult]
    """The lines of the parts not interrupted, in the order they were given."""
    interruption: str | None
    """Why the first interrupted unit stopped; None when none was."""


def run_parts_remotely(
    engine: Engine,
    execution: ExecutionConfig,
    name: str,
    run_id: str,
    options: RunOptions,
    stop: threading.Event,
    parts: Mapping[str, tuple[str, JSONObject]],
    *,
    started_at: datetime,
    on_succeeded: Callable[[str], None],
    on_progress: ProgressCallback | None,
    lease_seconds: float,
    done_before: int,
    total: int,
) -> PartsOutcome:
    """Run each of `parts` (unit id -> the part's id and its spec) as a unit on the workers.

    `on_succeeded(part_id)` is called in this thread as each part is done, so the caller commits its
    pipeline checkpoint then and a rerun skips the part; a failed or interrupted part is not done (the
    rerun tries it again). Every unit's run is dated from `started_at`, the run's start: this process
    does not know when a worker began the unit, only that it was not before the run."""
    results: list[RunResult] = []
    entities: dict[str, EntityResult] = {}
    interruptions: list[str] = []

    def finished(unit_id: str, outcome: UnitOutcome) -> None:
        part_id = parts[unit_id][0]
        results.append(outcome.as_run_result(run_id, name, options.trigger, started_at))
        entity = line_of(outcome, part_id)
        if entity is None:
            interruptions.append(outcome.error or "interrupted")
            return
        entities[unit_id] = entity
        if entity.status is EntityStatus.SUCCEEDED:
            on_succeeded(part_id)

    remote = RemoteUnits(
        engine, execution, name, run_id, options, stop, on_progress=on_progress, lease_seconds=lease_seconds
    )
    specs = [UnitSpec(unit_id, spec) for unit_id, (_part_id, spec) in parts.items()]
    remote.run(specs, finished, done_before=done_before, total=total)
    in_order = [entities[unit_id] for unit_id in parts if unit_id in entities]
    return PartsOutcome(results, in_order, interruptions[0] if interruptions else None)


def _outcome_of(row: units.UnitRow) -> UnitOutcome:
    if row.outcome is not None:
        return UnitOutcome.from_json(row.outcome)
    if row.status is UnitStatus.INTERRUPTED:
        return UnitOutcome(entity=None, status=RunStatus.CANCELLED, counts=WriteCounts(), error="interrupted")
    return UnitOutcome.failed(f"unit {row.unit_id} failed on its worker")
