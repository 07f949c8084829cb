"""A plain pull (or a lookup) run on the workers: one unit, the whole pass, run by one worker under the
pipeline's run (its lease and row held here). It gains nothing in speed over a local run; it puts the
work where the workers are, and every kind of pipeline can then go to them the same way.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from batchsync.config import Config
from batchsync.config.execution import ExecutionConfig
from batchsync.database import open_database
from batchsync.distributed.dispatch import RemoteUnits, UnitSpec
from batchsync.distributed.outcome import UnitOutcome
from batchsync.engine.ending import run_under_lease
from batchsync.engine.options import ProgressCallback, RunOptions
from batchsync.engine.plans import plan_for
from batchsync.logs import run_context
from batchsync.models import RunResult, RunStatus, WriteCounts
from batchsync.state import runs
from batchsync.state.leases import Lease
from batchsync.state.tables import ensure_state_tables


def prepare_remote_pull(
    config: Config,
    name: str,
    options: RunOptions,
    execution: ExecutionConfig,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> Callable[[], RunResult]:
    """Pipeline `name`'s run as one unit on the workers, checked now (its plan made: ConfigError)."""
    pipeline = config.pipeline(name)
    plan_for(pipeline, options, only_ids=())
    run_id = options.run_id or str(uuid.uuid4())
    stop = stop or threading.Event()

    def start() -> RunResult:
        started_at = datetime.now(UTC)
        with run_context(run_id, name):
            engine = open_database(config.database, state_schema=config.state_schema)
            try:
                ensure_state_tables(engine)
                lease = Lease(engine, name, run_id, pipeline.lease_seconds)
                outcomes: list[UnitOutcome] = []

                def recorded() -> RunResult:
                    runs.record_start(engine, run_id, name, options.trigger, started_at)
                    remote = RemoteUnits(
                        engine,
                        execution,
                        name,
                        run_id,
                        options,
                        stop,
                        on_progress=on_progress,
                        lease_seconds=pipeline.lease_seconds,
                    )
                    remote.run(
                        [UnitSpec("pull", {"kind": "pipeline"})],
                        lambda _id, outcome: outcomes.append(outcome),
                    )
                    outcome = (
                        outcomes[0]
                        if outcomes
                        else UnitOutcome(
                            entity=None, status=RunStatus.CANCELLED, counts=WriteCounts(), error="interrupted"
                        )
                    )
                    return outcome.as_run_result(run_id, name, options.trigger, started_at)

                return run_under_lease(engine, lease, started_at, recorded, stop=stop)
            finally:
                engine.dispose()

    return start
