"""Log lines for people (Rich text) or for machines (`--log-format json`: one JSON object per line).

Every line logged during a run carries its run id and pipeline, whichever thread logs it, so a run's
story can be pulled out of a shared log with one filter.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

_current_run: ContextVar[tuple[str, str] | None] = ContextVar("batchsync_run", default=None)


@contextlib.contextmanager
def run_context(run_id: str, pipeline: str) -> Iterator[None]:
    """Tag every log line emitted inside (in this thread, and threads started with its context)."""
    token = _current_run.set((run_id, pipeline))
    try:
        yield
    finally:
        _current_run.reset(token)


class RunContextFilter(logging.Filter):
    """Adds `run_id` and `pipeline` attributes to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _current_run.get()
        record.run_id, record.pipeline = current if current else (None, None)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": getattr(record, "run_id", None),
            "pipeline": getattr(record, "pipeline", None),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(handler: logging.Handler, level: int, *, json_lines: bool) -> None:
    """Route all logging through `handler` at `level`; quiet the HTTP libraries' own chatter."""
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(message)s"))
    handler.addFilter(RunContextFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
