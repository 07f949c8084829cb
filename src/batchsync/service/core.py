"""What the service does, apart from HTTP: read pipelines and runs from the database, start runs in the
pool, cancel and reset. The routes (service/api.py) translate these to and from JSON; the dashboard
will read the same.

Everything a run did is read from the database, so a run started by the CLI in another terminal, or on
another machine sharing the PostgreSQL database, shows here exactly like one this service started.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, RowMapping, func, select
from sqlalchemy.engine import make_url

from batchsync import __version__, operations
from batchsync.config import Config, PipelineConfig
from batchsync.database import open_database, reading_engine
from batchsync.engine import RunOptions
from batchsync.errors import BatchsyncError, ConfigError, RunConflictError, SinkError
from batchsync.models import JSONObject, RunStatus
from batchsync.redaction import Redactor
from batchsync.service.auth import Tokens
from batchsync.service.children import ChildRunError, run_in_child
from batchsync.service.errors import ApiError, not_found
from batchsync.service.notifier import Notifier
from batchsync.service.pool import BusyError, InternalRunError, Launch, RunPool
from batchsync.service.scheduler import Scheduler
from batchsync.service.schemas import RunRequest
from batchsync.service.shapes import RUN_BRIEF_KEYS
from batchsync.service.snapshots import Snapshots
from batchsync.state import cancels, checkpoints, deadletters, deliveries, leases, runs, ticks
from batchsync.state.tables import checkpoints as checkpoints_table
from batchsync.state.tables import ensure_state_tables, state_table_exists
from batchsync.state.tables import runs as runs_table


class Service:
    """The state of one `batchsync serve`: its config, one database engine, the run pool and the tokens."""

    def __init__(self, config: Config, config_file: Path, tokens: Tokens, *, max_runs: int = 4) -> None:
        """`config_file` is where `config` was read from: each run's own process reads it again."""
        self.config = config
        self.config_file = config_file
        self.tokens = tokens
        self.started_at = datetime.now(UTC)
        self.engine: Engine = open_database(config.database, state_schema=config.state_schema)
        ensure_state_tables(self.engine)
        self.reader = reading_engine(self.engine)
        """For every read: on SQLite, requests never take the write lock a run's batches need."""
        self.pool = RunPool(max_runs)
        self.redactor = Redactor(self._secrets())
        self.scheduler = Scheduler(
            self.engine,
            config.pipelines,
            lambda name, request, run_id: self.start_run(name, request, run_id=run_id).run_id,
        )
        self.notifier = Notifier(self.engine, config, self.redactor)
        self.snapshots = Snapshots()
        """The read routes' answers, shared by concurrent callers (service/snapshots.py)."""
        self._closed = threading.Event()

    def start(self) -> None:
        """Start the scheduler (the app's start-up calls this; a Service without it only answers)."""
        self.scheduler.start()
        self.notifier.start()

    def close(self) -> None:
        """Stop the scheduler and the runs this service started (each at a batch boundary, checkpoint
        saved), then let go of the database."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.scheduler.stop()
        self.pool.shutdown()
        self.notifier.stop()  # after the runs: the last ones to end are still reported
        self.snapshots.close()
        self.engine.dispose()

    def _secrets(self) -> set[str]:
        secrets = set(self.config.secret_values())
        password = make_url(self.config.database).password
        if password:
            secrets.add(str(password))
        secrets |= {token for token in (self.tokens.admin, self.tokens.read) if token}
        return secrets

    # -- pipelines -------------------------------------------------------------------------------------

    def pipeline(self, name: str) -> PipelineConfig:
        if name in self.config.unavailable:
            problems = self.config.unavailable[name]
            raise ApiError(409, "unavailable", f"pipeline {name!r} cannot be used here", problems)
        if name not in self.config.pipelines:
            raise not_found("pipeline", name)
        return self.config.pipelines[name]

    def pipelines(self) -> list[JSONObject]:
        listed = [self._summary(name) for name in sorted(self.config.pipelines)]
        listed += [
            {"name": name, "kind": None, "state": "unavailable", "problems": list(problems)}
            for name, problems in sorted(self.config.unavailable.items())
        ]
        return listed

    def pipeline_detail(self, name: str) -> JSONObject:
        self.pipeline(name)
        status = operations.status_of(self.reader, self.config, name)
        summary = self._summary_of(name, status)
        summary["checkpoint"] = {
            "cursor": status.cursor,
            "skip_records": status.skip_records,
            "pass_records": status.pass_records,
            "pass_unit": status.pass_unit,
            "total_expected": status.total_expected,
            "watermark": status.watermark,
            "is_complete": status.is_complete,
        }
        summary["last_synced_at"] = status.last_synced_at.isoformat() if status.last_synced_at else None
        with self.reader.connect() as connection:
            summary["dead_letters"] = deadletters.count(connection, name)
        if summary["schedule"] is not None:
            summary["schedule"]["recent_ticks"] = [
                {str(key): value for key, value in row.items()} for row in ticks.recent(self.reader, name)
            ]
        return summary

    def _summary(self, name: str) -> JSONObject:
        return self._summary_of(name, operations.status_of(self.reader, self.config, name))

    def _summary_of(self, name: str, status: operations.PipelineStatus) -> JSONObject:
        pipeline = self.config.pipelines[name]
        last_run = status.last_run
        running = None
        if last_run is not None and last_run["status"] == RunStatus.RUNNING.value:
            running = live_progress(last_run, status.total_expected, status.pass_records)
        elif (launch := self.pool.active(name)) is not None:
            running = {"run_id": launch.run_id, "status": "starting" if launch.started else "queued"}
        return {
            "name": name,
            "kind": pipeline.source.type,
            "state": "running" if running else status.state,
            "table": status.table,
            "table_rows": status.table_rows,
            "is_complete": status.is_complete,
            "last_run": None if last_run is None else _run_brief(last_run),
            "running": running,
            "schedule": self._schedule_of(name, pipeline),
            "next_run_at": _iso(self.scheduler.next_run_at(name)),
            "links": {"self": f"/api/pipelines/{name}", "runs": f"/api/runs?pipeline={name}"},
        }

    def _schedule_of(self, name: str, pipeline: PipelineConfig) -> JSONObject | None:
        schedule = pipeline.schedule
        if schedule is None:
            return None
        return {
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "catch_up": schedule.catch_up,
            "next_run_at": _iso(self.scheduler.next_run_at(name)),
        }

    def stats(self, name: str, stale_after: timedelta) -> JSONObject:
        self.pipeline(name)
        return operations.stats_of(self.reader, self.config, name, stale_after).to_dict()

    def dead_letters(self, name: str, limit: int, before_id: int | None) -> JSONObject:
        self.pipeline(name)
        with self.reader.connect() as connection:
            found = [
                deadletters.as_dict(row)
                for row in deadletters.recent(connection, name, limit, before_id=before_id)
            ]
            total = deadletters.count(connection, name)
        more = len(found) == limit
        return {
            "pipeline": name,
            "total": total,
            "items": found,
            "next_before_id": found[-1]["id"] if found and more else None,
        }

    def reset(self, name: str) -> JSONObject:
        pipeline = self.pipeline(name)
        holder = leases.live_holder(self.reader, name, pipeline.lease_seconds)
        if holder is not None:
            raise _conflict(name, holder)
        had_checkpoint = operations.reset(name, self.config)
        self.snapshots.forget()
        return {"pipeline": name, "had_checkpoint": had_checkpoint}

    # -- runs ------------------------------------------------------------------------------------------

    def start_run(self, name: str, request: RunRequest, *, run_id: str | None = None) -> Launch:
        """Check the request (ConfigError: refused now), then queue the run (as `run_id`, or a new id);
        ApiError 409 when the pipeline already runs, here or in any other process."""
        pipeline = self.pipeline(name)
        if not request.dry_run:
            holder = leases.live_holder(self.reader, name, pipeline.lease_seconds)
            if holder is not None:
                raise _conflict(name, holder)
        run_id, stop = run_id or str(uuid.uuid4()), threading.Event()
        options = RunOptions(
            trigger=request.trigger,
            full_refresh=request.full_refresh,
            dry_run=request.dry_run,
            page_size=request.batch_size,
            db_batch_size=request.db_batch_size,
            concurrency=request.concurrency,
            filters=dict(request.filter),
            params=dict(request.params),
            run_id=run_id,
        )
        operations.prepare_run(name, self.config, options, only=request.only)  # ConfigError: refused now
        job = request.model_dump(mode="json", exclude={"filter"})
        job["filter"] = {
            column: test.model_dump(mode="json", by_alias=True, exclude_unset=True)  # the one operator set
            for column, test in request.filter.items()
        }

        def run() -> JSONObject:
            try:
                return run_in_child(self.config_file, name, run_id, job, stop)
            finally:
                self.snapshots.forget()  # its end shows at once

        try:
            launch = self.pool.start(name, request.trigger.value, run, run_id=run_id, stop=stop)
            self.snapshots.forget()
            return launch
        except BusyError as exc:
            active = exc.launch
            raise ApiError(
                409,
                "conflict",
                f"{name} is already running: run {active.run_id}",
                {"run_id": active.run_id, "started_at": active.requested_at.isoformat()},
            ) from None

    def wait_for(self, launch: Launch) -> JSONObject:
        """The run's result once it has ended; ApiError when it could not start."""
        try:
            return launch.future.result()
        except ConfigError as exc:
            raise ApiError(400, "invalid_request", str(exc), list(exc.problems) or None) from None
        except RunConflictError as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        except SinkError as exc:
            raise ApiError(503, "database_unavailable", str(exc)) from None
        except (InternalRunError, ChildRunError) as exc:
            raise ApiError(500, "internal_error", str(exc)) from None
        except BatchsyncError as exc:  # a pass that cannot resume as asked, a run cancelled before it began
            raise ApiError(409, "run_not_started", str(exc)) from None

    def runs(
        self,
        *,
        pipeline: str | None,
        status: str | None,
        trigger: str | None,
        before: str | None,
        limit: int,
    ) -> JSONObject:
        if pipeline is not None:
            self.pipeline(pipeline)
        with self.reader.connect() as connection:
            rows = runs.find(
                connection, pipeline=pipeline, status=status, trigger=trigger, before=before, limit=limit
            )
        items = [_run_brief(runs.row_as_dict(row)) for row in rows]
        return {"items": items, "next_before": items[-1]["started_at"] if len(items) == limit else None}

    def run_detail(self, run_id: str) -> JSONObject:
        row = self._run_row(run_id)
        if row is not None:
            found = runs.row_as_dict(row)
            found.pop("pid", None)
            if found["status"] == RunStatus.RUNNING.value:
                total, done = self._pass_totals(found["pipeline"])
                found["progress"] = live_progress(found, total, done)
            found["links"] = _run_links(run_id, found["pipeline"])
            with self.reader.connect() as connection:
                found["deliveries"] = deliveries.for_run(connection, run_id)
            return found
        launch = self.pool.find(run_id)
        if launch is None:
            raise not_found("run", run_id)
        return self._launch_detail(launch)

    def _launch_detail(self, launch: Launch) -> JSONObject:
        """A run this service knows and the database does not: waiting for a slot, just starting, a dry
        run (which records nothing), or one that could not start."""
        if launch.future.done() and launch.launch_error is None:
            shown = dict(launch.future.result())
        else:
            status = "queued" if not launch.started else "starting"
            if launch.launch_error is not None:
                status = RunStatus.FAILED.value
            shown = {
                "run_id": launch.run_id,
                "pipeline": launch.pipeline,
                "trigger": launch.trigger,
                "status": status,
                "requested_at": launch.requested_at.isoformat(),
                "error": launch.launch_error,
            }
        shown["links"] = _run_links(launch.run_id, launch.pipeline)
        return shown

    def _run_row(self, run_id: str) -> RowMapping | None:
        with self.reader.connect() as connection:
            if not state_table_exists(connection, runs_table):
                return None
            found = runs.find(connection, run_id=run_id, limit=1)
        return found[0] if found else None

    def _pass_totals(self, pipeline: str) -> tuple[int | None, int]:
        """The pass's expected total (when the API said it) and the records committed in it so far."""
        with self.reader.connect() as connection:
            if not state_table_exists(connection, checkpoints_table):
                return None, 0
            checkpoint = checkpoints.load(connection, pipeline)
        if checkpoint is None:
            return None, 0
        return checkpoint.total_expected, checkpoint.pass_records

    def cancel(self, run_id: str) -> JSONObject:
        self.snapshots.forget()
        if self.pool.cancel_waiting(run_id):
            return {"run_id": run_id, "status": "cancel requested", "was_running": False}
        answer = cancels.request_cancel(self.engine, run_id)
        if answer.outcome is cancels.CancelOutcome.UNKNOWN:
            launch = self.pool.find(run_id)
            if launch is None:
                raise not_found("run", run_id)
            if launch.is_done:
                raise ApiError(409, "not_running", f"run {run_id} has ended", {"status": "ended"})
            launch.stop.set()  # starting, no row yet: the stop is seen at its first batch boundary
            return {"run_id": run_id, "status": "cancel requested", "was_running": True}
        if answer.outcome is cancels.CancelOutcome.NOT_RUNNING:
            raise ApiError(
                409, "not_running", f"run {run_id} has ended ({answer.status})", {"status": answer.status}
            )
        return {"run_id": run_id, "status": "cancel requested", "requested_at": answer.requested_at}

    # -- health ----------------------------------------------------------------------------------------

    def health(self) -> JSONObject:
        is_reachable, running = True, 0
        try:
            with self.reader.connect() as connection:
                if state_table_exists(connection, runs_table):
                    query = select(func.count()).where(runs_table.c.status == RunStatus.RUNNING.value)
                    running = int(connection.execute(query).scalar_one())
        except BatchsyncError:
            is_reachable = False
        return {
            "status": "ok" if is_reachable else "degraded",
            "version": __version__,
            "database": "reachable" if is_reachable else "unreachable",
            "scheduler": _scheduler_state(self.scheduler),
            "runs_in_progress": running,
            "runs_in_this_service": self.pool.running_count(),
            "started_at": self.started_at.isoformat(),
        }


def live_progress(row: JSONObject, total_expected: int | None, pass_records: int) -> JSONObject:
    """A running run's live figures from its row: records committed, the rate since it started, and
    (when the API said how many records the pass holds) how long the rest should take."""
    records = int(row["created"]) + int(row["updated"]) + int(row["unchanged"])
    started = datetime.fromisoformat(str(row["started_at"]))
    elapsed = max((datetime.now(UTC) - started).total_seconds(), 1e-3)
    rate = records / elapsed
    eta = None
    if total_expected is not None and rate > 0:
        eta = round(max(total_expected - pass_records, 0) / rate, 1)
    return {
        "run_id": row["run_id"],
        "status": row["status"],
        "trigger": row["trigger"],
        "started_at": row["started_at"],
        "records": records,
        "created": row["created"],
        "updated": row["updated"],
        "unchanged": row["unchanged"],
        "failed": row["failed"],
        "pages": row["pages"],
        "api_calls": row["api_calls"],
        "pass_records": pass_records,
        "total_expected": total_expected,
        "rate_per_second": round(rate, 1),
        "eta_seconds": eta,
        "cancel_requested_at": row.get("cancel_requested_at"),
    }


def _run_brief(row: JSONObject) -> JSONObject:
    brief = {key: row.get(key) for key in RUN_BRIEF_KEYS}
    brief["links"] = _run_links(str(row["run_id"]), str(row["pipeline"]))
    return brief


def _run_links(run_id: str, pipeline: str) -> JSONObject:
    return {
        "self": f"/api/runs/{run_id}",
        "cancel": f"/api/runs/{run_id}/cancel",
        "pipeline": f"/api/pipelines/{pipeline}",
    }


def _conflict(name: str, holder: RowMapping) -> ApiError:
    details: dict[str, Any] = {"run_id": holder["run_id"], "started_at": holder["started_at"]}
    return ApiError(409, "conflict", f"{name} is already running: run {holder['run_id']}", details)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _scheduler_state(scheduler: Scheduler) -> str:
    if not scheduler.has_schedules:
        return "no schedules"
    return "running" if scheduler.is_running else "stopped"
