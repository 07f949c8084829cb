"""`execution:` (top level, or per pipeline, which then wins): where a pipeline's work runs. `local` (the
default) runs it in the process that asked; `celery` hands its units of work (fan-out entities, pull
ranges, lookup shards, or the whole pull) to `batchsync worker` processes through a Redis broker.
`BATCHSYNC_BROKER_URL` sets the top-level broker (and, unless the file says otherwise, `backend: celery`).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, PositiveInt, field_validator, model_validator

from batchsync.config.base import Model

BROKER_URL_ENV = "BATCHSYNC_BROKER_URL"
DEFAULT_QUEUE = "batchsync"
_REDIS_SCHEMES = ("redis", "rediss")


class ExecutionConfig(Model):
    backend: Literal["local", "celery"] = "local"
    broker: str | None = None
    """The Celery broker, `redis://host:6379/0` (`rediss://` for TLS). A password in it is a secret."""
    queue: str = Field(DEFAULT_QUEUE, min_length=1, max_length=200)
    """The Celery queue the units go to; `batchsync worker --queues` picks which queues a worker serves."""
    visibility_timeout: PositiveInt = 3600
    """Seconds after which a unit taken by a worker that vanished (`kill -9`, a lost machine) is handed
    to another worker. Longer than the longest unit: a unit still running when it passes is handed out
    again too, and its copy waits for the unit's lease (harmless, but a worker slot is spent waiting)."""

    @field_validator("broker")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in _REDIS_SCHEMES or not parts.hostname:
            raise ValueError("must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0")
        return url

    @model_validator(mode="after")
    def _celery_needs_a_broker(self) -> ExecutionConfig:
        if self.backend == "celery" and self.broker is None:
            raise ValueError(
                f"backend celery needs a broker (e.g. broker: redis://127.0.0.1:6379/0, or {BROKER_URL_ENV})"
            )
        return self

    @property
    def is_distributed(self) -> bool:
        return self.backend == "celery"

    @property
    def broker_shown(self) -> str:
        """The broker URL as shown to people: without its password."""
        if self.broker is None:
            return "none"
        parts = urlsplit(self.broker)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{host}{parts.path}"

    def secret_values(self) -> set[str]:
        if self.broker is None:
            return set()
        password = urlsplit(self.broker).password
        return {self.broker} | ({password} if password else set())
