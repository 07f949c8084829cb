"""`batchsync worker`: a Celery worker serving batchsync's one task, each call a unit of a run.

The worker reads its own config file (and its secrets from its own environment): a task names only the
pipeline, the run and the unit. Celery's prefork pool runs `--concurrency` units at once, each in a
process of its own; start as many workers, on as many machines, as the database and the API can take.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from celery import Celery, Task
from celery.signals import worker_ready

from batchsync.config import Config, find_config_file, load_config
from batchsync.config.execution import ExecutionConfig
from batchsync.distributed.celeryapp import TASK_NAME, app_for, check_broker
from batchsync.distributed.tasks import WorkerConfig, run_task
from batchsync.errors import ConfigError, SinkError

log = logging.getLogger("batchsync.worker")

_RETRY_SECONDS = 5
_MAX_RETRIES = 5


def worker_execution(config: Config) -> ExecutionConfig:
    """The broker a worker serves: the top-level `execution`, else the one the pipelines name (all
    alike). Raises ConfigError when there is none, or more than one."""
    if config.execution.broker is not None:
        return config.execution
    named = {
        pipeline.execution.broker: pipeline.execution
        for pipeline in config.pipelines.values()
        if pipeline.execution is not None and pipeline.execution.broker is not None
    }
    if len(named) == 1:
        return next(iter(named.values()))
    if not named:
        raise ConfigError(
            "batchsync worker needs a broker: set execution.broker in the config "
            "(e.g. redis://127.0.0.1:6379/0) or BATCHSYNC_BROKER_URL"
        )
    raise ConfigError("the pipelines name several brokers; set the top-level execution.broker for the worker")


def make_worker_app(config_path: Path | None) -> Celery:
    """The Celery app with batchsync's task registered, reading pipelines from `config_path`."""
    path = find_config_file(config_path)
    config = load_config(path)
    execution = worker_execution(config)
    check_broker(execution)
    app = app_for(execution)
    source = WorkerConfig(path)

    @app.task(  # type: ignore[untyped-decorator]
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=_MAX_RETRIES,
    )
    def unit_task(task: Task, pipeline: str, run_id: str, unit_id: str) -> None:
        try:
            run_task(source.get(), pipeline, run_id, unit_id)
        except SinkError as exc:  # the database is away: the unit waits in the queue for it
            log.warning("unit %s of run %s: %s; trying again in %ds", unit_id, run_id, exc, _RETRY_SECONDS)
            raise task.retry(exc=exc, countdown=_RETRY_SECONDS) from exc

    return app


def start_worker(
    config_path: Path | None,
    *,
    concurrency: int | None,
    queues: Sequence[str],
    loglevel: str,
    pool: str | None,
) -> None:
    """Run a worker until it is stopped (Ctrl+C or SIGTERM: Celery's warm shutdown, units finish)."""
    app = make_worker_app(config_path)
    execution = worker_execution(load_config(config_path))
    queue_names = ",".join(queues) if queues else execution.queue

    def ready(**_kwargs: object) -> None:
        log.info("batchsync worker ready: broker %s, queues %s", execution.broker_shown, queue_names)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()  # a supervisor (or a test) waiting for this line sees it at once

    worker_ready.connect(ready, weak=False)
    argv = ["worker", f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"]
    argv.append(f"--queues={queue_names}")
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    if pool:
        argv.append(f"--pool={pool}")
    app.worker_main(argv)
