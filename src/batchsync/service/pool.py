"""The runs the service starts, at most `max_runs` at once, each on a thread of a bounded pool.

A run started here is an ordinary run: its row in `batchsync_runs`, its lease, its checkpoint. The pool
only adds what happens before the row exists: the run id is chosen here, so the API can answer it at
once, and a run waiting for a free slot, or one that could not start at all (its config refuses, or
another process took the lease in the meantime), is known here by that id. Everything after that is read
from the database, like a run started anywhere else.

Stopping the service stops its runs the way Ctrl+C stops a CLI run: each lets its batch commit and ends
`cancelled`, checkpoint saved.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from batchsync.errors import BatchsyncError
from batchsync.models import JSONObject

log = logging.getLogger("batchsync.service")

RunFunction = Callable[[], JSONObject]
"""Runs the run (in a process of its own: service/children.py) and answers its `run --json` result;
its id and stop event were chosen with it."""

_KEPT_LAUNCHES = 1_000


@dataclass(slots=True)
class Launch:
    """A run this service was asked to start."""

    run_id: str
    pipeline: str
    trigger: str
    requested_at: datetime
    stop: threading.Event = field(default_factory=threading.Event)
    future: Future[JSONObject] = field(default_factory=Future)
    started: bool = False
    """Whether a slot took it (False: still waiting for one)."""
    launch_error: str | None = None
    """Why it could not start at all (it has no row then)."""

    @property
    def is_done(self) -> bool:
        return self.future.done()


class InternalRunError(BatchsyncError):
    """A run ended by a bug (an exception batchsync does not raise on purpose); the log has the trace."""


class BusyError(Exception):
    """The pipeline has a run of this service's not yet ended."""

    def __init__(self, launch: Launch) -> None:
        super().__init__(f"{launch.pipeline} is already running: run {launch.run_id}")
        self.launch = launch


class RunPool:
    def __init__(self, max_runs: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_runs, thread_name_prefix="batchsync-run")
        self._lock = threading.Lock()
        self._active: dict[str, Launch] = {}  # by pipeline: started or waiting, not yet ended
        self._launches: OrderedDict[str, Launch] = OrderedDict()  # by run id, the latest few
        self.max_runs = max_runs

    def start(
        self, pipeline: str, trigger: str, run: RunFunction, *, run_id: str, stop: threading.Event
    ) -> Launch:
        """Queue run `run_id` of `pipeline` (`stop` is the event it was prepared with); BusyError when
        this service has a run of that pipeline not yet ended."""
        with self._lock:
            active = self._active.get(pipeline)
            if active is not None:
                raise BusyError(active)
            launch = Launch(run_id, pipeline, trigger, datetime.now(UTC), stop)
            self._active[pipeline] = launch
            self._launches[launch.run_id] = launch
            while len(self._launches) > _KEPT_LAUNCHES:
                self._launches.popitem(last=False)
        self._executor.submit(self._run, launch, run)
        return launch

    def find(self, run_id: str) -> Launch | None:
        with self._lock:
            return self._launches.get(run_id)

    def active(self, pipeline: str) -> Launch | None:
        with self._lock:
            return self._active.get(pipeline)

    def running_count(self) -> int:
        with self._lock:
            return sum(1 for launch in self._active.values() if launch.started)

    def cancel_waiting(self, run_id: str) -> bool:
        """Stop a run that has no slot yet before it starts; True when it was waiting."""
        launch = self.find(run_id)
        if launch is None or launch.started or launch.is_done:
            return False
        launch.stop.set()
        return True

    def shutdown(self) -> None:
        """Ask every run to stop at its next batch boundary and wait until they have."""
        with self._lock:
            launches = list(self._active.values())
        for launch in launches:
            launch.stop.set()
        self._executor.shutdown(wait=True, cancel_futures=False)

    def _run(self, launch: Launch, run: RunFunction) -> None:
        launch.started = True
        result: JSONObject | None = None
        failure: BaseException | None = None
        try:
            if launch.stop.is_set():  # cancelled while it waited for a slot: it never ran
                failure = BatchsyncError("cancelled before it started")
            else:
                result = run()
        except BatchsyncError as exc:
            failure = exc
        except Exception as exc:  # a bug: keep serving, say so in the log and in the launch
            log.exception("run %s of %s failed with an internal error", launch.run_id, launch.pipeline)
            failure = InternalRunError(f"internal error: {exc!r}")
        with self._lock:  # before the future is done: whoever waited on it may start the next run at once
            if self._active.get(launch.pipeline) is launch:
                del self._active[launch.pipeline]
        if failure is not None:
            launch.launch_error = str(failure)
            launch.future.set_exception(failure)
        else:
            assert result is not None
            launch.future.set_result(result)
