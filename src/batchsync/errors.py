"""Every exception batchsync raises, in one tree whose branches say what the caller does next.

```
BatchsyncError
  ConfigError            bad file, missing ${VAR}, bad value: fix and rerun; never retried
  SourceError
    TransientHttpError   429, 5xx, timeouts, resets, broken bodies: retried by the client
    PermanentHttpError   other 4xx, HTML where JSON was promised: the run stops, checkpoint intact
    PaginationError      repeated or missing cursor, records_path not found
    QuotaExhaustedError  the API's quota is spent for longer than max_backoff: stop cleanly, resume later
  RecordError            one record that cannot be mapped to the table
  SinkError              database refused the batch or could not be reached: transaction rolled back
    DatabaseCallError    one failed database call, put into words at the one seam (database.py)
      RowRefusedError    a constraint or a value refused the data: the sink finds the rows one by one
      DatabaseUnavailableError  locked, unreachable, disk full: the run's bookkeeping tries again
  CheckpointError        unreadable or incompatible checkpoint
  RunConflictError       the pipeline is already running
```

Library exceptions (httpx, SQLAlchemy, pydantic, PyYAML) are translated where they enter, with
`raise ... from exc`, so callers only ever catch these. SQLAlchemy's enter at one seam, in database.py:
the engines it opens raise `DatabaseCallError`s; code that knows what it was doing catches one and
raises a `SinkError` that says so. Messages are written for the person running the
sync and never contain secrets: the raising code redacts first.
"""

from __future__ import annotations

from datetime import datetime


class BatchsyncError(Exception):
    """Base of every error batchsync raises on purpose."""


class ConfigError(BatchsyncError):
    """The configuration is wrong: the user must change it; retrying cannot help."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        super().__init__(message)


class SourceError(BatchsyncError):
    """The remote API did not give a usable answer."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class TransientHttpError(SourceError):
    """A failure worth retrying: 429, 5xx, timeouts, dropped connections, truncated bodies."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, url=url, status=status)


class PermanentHttpError(SourceError):
    """A failure retrying cannot fix (4xx other than 429, HTML instead of JSON, auth refused)."""


class QuotaExhaustedError(SourceError):
    """The API allows no more requests until `resume_at`, further off than the run may wait.

    Not a crash: the run stops with its checkpoint and says when to run again.
    """

    def __init__(self, message: str, *, resume_at: datetime, url: str | None = None) -> None:
        self.resume_at = resume_at
        super().__init__(message, url=url, status=429)


class PaginationError(SourceError):
    """The API's paging answers do not add up: a repeated cursor, a missing records list."""


class RecordError(BatchsyncError):
    """One record cannot become a row (missing primary key, a value that does not convert)."""

    def __init__(self, message: str, *, key: str | None = None, column: str | None = None) -> None:
        self.key = key
        self.column = column
        super().__init__(message)


class SinkError(BatchsyncError):
    """The database refused a batch or could not be reached; the batch's transaction rolled back."""


class DatabaseCallError(SinkError):
    """One database call failed; the message is `reason`, the database's words (a lock and a full disk
    named as such). Raised by database.py only; callers that know what they were doing catch it and
    raise a `SinkError` that says so.

    `is_refusal`: the database refused what was sent (a constraint, a value, a statement), rather than
    failing to do any work at all (locked, full, unreachable).
    """

    def __init__(self, reason: str, *, is_refusal: bool = False) -> None:
        self.reason = reason
        self.is_refusal = is_refusal
        super().__init__(reason)


class RowRefusedError(DatabaseCallError):
    """A constraint or a value refused the data: the other rows of the batch may still be written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, is_refusal=True)


class DatabaseUnavailableError(DatabaseCallError):
    """The database is locked, unreachable or full: the same call may work a moment later. (SQLite
    reports a missing table or column the same way, so a few of these will not.)"""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, is_refusal=False)


class CheckpointError(BatchsyncError):
    """The stored checkpoint cannot be used with this configuration."""


class RunConflictError(BatchsyncError):
    """Another run of the same pipeline is in progress."""
