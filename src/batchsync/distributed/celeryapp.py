"""The Celery application batchsync's workers serve and its runs send to, made from `execution:`.

Celery and Redis are the whole engine: Celery moves each unit's task to a worker, and Redis holds the
queue. Settings chosen for units of work that must survive a lost worker:

- `task_acks_late` with `task_reject_on_worker_lost`: a task is acknowledged only once it has run, so
  one whose worker dies (`kill -9`, a lost machine) goes back to the queue and another worker takes it;
  the unit resumes from its checkpoint, so running it again is harmless.
- `worker_prefetch_multiplier = 1`: a worker holds no more tasks than it runs, so a slow worker does not
  sit on units others could take.
- `visibility_timeout` (Redis): how long a taken task stays invisible before Redis hands it out again;
  the workers look for such tasks every fifth of it (at most every 10 s).
- No result backend: what a unit came to is written to the database (`batchsync_units`), where the
  run's own process and anyone else reads it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from batchsync.config.execution import ExecutionConfig
from batchsync.errors import ConfigError

if TYPE_CHECKING:  # Celery is imported when first used: a local run never pays for it
    from celery import Celery

TASK_NAME = "batchsync.unit"
_CONNECT_TIMEOUT_SECONDS = 5.0


@functools.cache
def celery_app(broker: str, visibility_timeout: int) -> Celery:
    """The one app per broker and timeout in this process (Celery apps are meant to live long)."""
    from celery import Celery

    app = Celery("batchsync", broker=broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,  # batchsync configures logging itself
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout,
            # Look for tasks of vanished workers every few seconds (kombu's default looks every 100 s).
            "unacked_restore_interval": max(1, min(10, visibility_timeout // 5)),
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": _CONNECT_TIMEOUT_SECONDS,
        },
        task_serializer="json",
        accept_content=["json"],
    )
    return app


def app_for(execution: ExecutionConfig) -> Celery:
    assert execution.broker is not None
    return celery_app(execution.broker, execution.visibility_timeout)


def check_broker(execution: ExecutionConfig) -> None:
    """Raise ConfigError naming the broker (without its password) when it cannot be reached: before a
    run records anything, so an unreachable broker leaves nothing half-written."""
    from kombu.exceptions import OperationalError

    app = app_for(execution)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=_CONNECT_TIMEOUT_SECONDS)
    except (OperationalError, OSError) as exc:
        raise ConfigError(
            f"cannot reach the Celery broker at {execution.broker_shown}: {_reason(exc)}; "
            "start Redis there, or fix execution.broker (or BATCHSYNC_BROKER_URL)"
        ) from exc


def send_unit(execution: ExecutionConfig, pipeline: str, run_id: str, unit_id: str) -> None:
    """Queue one unit's task: only names and ids travel, never a secret (the worker reads the rest from
    its own config and the database)."""
    from kombu.exceptions import OperationalError

    app = app_for(execution)
    try:
        app.send_task(
            TASK_NAME,
            args=[pipeline, run_id, unit_id],
            queue=execution.queue,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except (OperationalError, OSError) as exc:
        raise ConfigError(
            f"cannot send work to the Celery broker at {execution.broker_shown}: {_reason(exc)}"
        ) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("\n")[0]
