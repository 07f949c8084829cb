"""The scheduler inside `batchsync serve`: runs each pipeline with a `schedule:` at its cron times, with
trigger `scheduled`, through the same pool and checks as `POST /api/pipelines/{name}/runs`.

One thread sleeps until the next due time (waking at least once a second, so a stop is quick). A due
tick is first claimed in `batchsync_schedule_ticks` (state/ticks.py): of several services on one
database, only the one whose insert succeeds runs it. A tick that finds the pipeline running (in this
service or anywhere: the lease says) is recorded as skipped, not failed. With `catch_up: true`, a
service starting after a scheduled time passed unclaimed runs that time once; a pipeline no service
has ever ticked has missed nothing yet. When the service was busy past several times of a pipeline (a
clock jump, a long stall), it runs the latest one only, never a burst.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from batchsync.config import PipelineConfig
from batchsync.errors import BatchsyncError, ConfigError
from batchsync.models import Trigger
from batchsync.service.errors import ApiError
from batchsync.service.schemas import RunRequest
from batchsync.state import ticks

log = logging.getLogger("batchsync.scheduler")

StartRun = Callable[[str, RunRequest, str], str]
"""Starts pipeline `name`'s run as the given run id and answers it; raises ApiError (409: already
running)."""


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        pipelines: dict[str, PipelineConfig],
        start_run: StartRun,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._schedules = {name: p.schedule for name, p in pipelines.items() if p.schedule is not None}
        self._start_run = start_run
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._due: dict[str, datetime] = {}
        self._thread: threading.Thread | None = None

    @property
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def has_schedules(self) -> bool:
        return bool(self._schedules)

    def next_run_at(self, pipeline: str) -> datetime | None:
        with self._lock:
            return self._due.get(pipeline)

    def start(self) -> None:
        if not self._schedules:
            return
        now = self._clock()
        with self._lock:
            self._due = {name: schedule.next_after(now) for name, schedule in self._schedules.items()}
        self._thread = threading.Thread(
            target=self._loop, args=(now,), name="batchsync-scheduler", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self, started_at: datetime) -> None:
        self._catch_up(started_at)
        while not self._stop.is_set():
            now = self._clock()
            with self._lock:
                due = [(name, moment) for name, moment in self._due.items() if moment <= now]
            for name, _ in due:
                schedule = self._schedules[name]
                self._fire(name, schedule.latest_at_or_before(now))  # the latest time passed: never a burst
                with self._lock:
                    self._due[name] = schedule.next_after(now)
            with self._lock:
                earliest = min(self._due.values())
            self._stop.wait(min(1.0, max((earliest - self._clock()).total_seconds(), 0.01)))

    def _catch_up(self, now: datetime) -> None:
        for name, schedule in self._schedules.items():
            if not schedule.catch_up:
                continue
            missed = schedule.latest_at_or_before(now)
            try:
                last = ticks.latest(self._engine, name)
            except BatchsyncError as exc:
                log.warning("%s: cannot read the last scheduled run (%s); no catch-up", name, exc)
                continue
            if last is not None and last < missed:
                log.info("%s: catching up the run scheduled for %s", name, missed.isoformat())
                self._fire(name, missed)

    def _fire(self, name: str, scheduled_for: datetime) -> None:
        """Claim the tick, then start the run, or record why not. Never raises: the loop goes on."""
        try:
            if not ticks.claim(self._engine, name, scheduled_for):
                log.debug("%s: the tick at %s is another service's", name, scheduled_for.isoformat())
                return
            run_id = str(uuid.uuid4())
            # The tick names its run before the run can begin: a run row is never without its tick.
            ticks.settle(self._engine, name, scheduled_for, ticks.STARTED, run_id=run_id)
            outcome, reason = self._start(name, run_id)
            if outcome != ticks.STARTED:
                ticks.settle(self._engine, name, scheduled_for, outcome, reason=reason)
        except BatchsyncError as exc:
            log.error("%s: the scheduled run at %s could not be recorded: %s", name, scheduled_for, exc)

    def _start(self, name: str, run_id: str) -> tuple[str, str | None]:
        try:
            self._start_run(name, RunRequest(trigger=Trigger.SCHEDULED), run_id)
        except ApiError as exc:
            if exc.status == 409 and exc.code == "conflict":
                log.info("%s: scheduled run skipped: %s", name, exc.message)
                return ticks.SKIPPED, exc.message
            log.error("%s: scheduled run refused: %s", name, exc.message)
            return ticks.REFUSED, exc.message
        except ConfigError as exc:
            log.error("%s: scheduled run refused: %s", name, exc)
            return ticks.REFUSED, str(exc)
        log.info("%s: scheduled run %s started", name, run_id)
        return ticks.STARTED, None
