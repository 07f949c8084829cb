"""A pipeline run as a run of its own: under the pipeline's lease, with its own row in `batchsync_runs`.

`prepare_pipeline` checks the run (its plan made, ConfigError now) and hands back a callable that runs
it, so a caller that starts runs elsewhere, such as the control API's pool, refuses a bad request before
it answers; `run_pipeline` and `run_targeted` prepare and run at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from batchsync.config import Config
from batchsync.engine.ending import run_under_lease
from batchsync.engine.options import ProgressCallback, RunOptions
from batchsync.engine.run import UnitRun, open_for
from batchsync.engine.unit import WorkUnit
from batchsync.logs import run_context
from batchsync.models import RunResult
from batchsync.state import runs
from batchsync.state.leases import Lease

PreparedRun = Callable[[], RunResult]
"""A run checked and ready: calling it runs it (see `prepare_pipeline`)."""


def prepare_pipeline(
    config: Config,
    name: str,
    options: RunOptions,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
    only_ids: Sequence[str] = (),
) -> PreparedRun:
    """Pipeline `name`'s run with its plan made and the config checked: ConfigError now, before anything
    is opened, so a caller that starts the run elsewhere (the control API's pool) can refuse at once.
    `only_ids`: a targeted sync of just those records."""
    run = UnitRun(WorkUnit.of_pipeline(config, name, options, only_ids=only_ids), stop, on_progress)

    def start() -> RunResult:
        with run_context(run.unit.run_id, name):
            return _run_recorded(run)

    return start


def run_targeted(
    config: Config, name: str, options: RunOptions, *, ids: Sequence[str], stop: threading.Event | None = None
) -> RunResult:
    """Fetch just the records with these ids and upsert them; the pass checkpoint is left alone."""
    return prepare_pipeline(config, name, options, stop=stop, only_ids=ids)()


def run_pipeline(
    config: Config,
    name: str,
    options: RunOptions | None = None,
    *,
    stop: threading.Event | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Run one pipeline to the end of its pass, or until `stop` is set. Never raises for a failed run:
    the failure is in the result (and the run record). Raises ConfigError/SinkError/CheckpointError when
    the run cannot start at all."""
    return prepare_pipeline(config, name, options or RunOptions(), stop=stop, on_progress=on_progress)()


def _run_recorded(run: UnitRun) -> RunResult:
    """`run` as a run of its own: under the pipeline's lease, with its own row (a dry run has neither)."""
    unit = run.unit
    started_at = datetime.now(UTC)
    engine = open_for(unit)
    try:
        prepared = run.prepare(engine)
        if unit.options.dry_run:
            return run.run(engine, prepared, started_at)
        lease = Lease(engine, unit.name, unit.run_id, run.pipeline.lease_seconds)

        def recorded() -> RunResult:
            runs.record_start(engine, unit.run_id, unit.name, unit.options.trigger, started_at)
            return run.run(engine, prepared, started_at)

        return run_under_lease(engine, lease, started_at, recorded, stop=run.stop)
    finally:
        engine.dispose()
