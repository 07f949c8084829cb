"""What the sample API saw: one entry per request, so tests assert on the traffic a sync produced."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as answered: `record_count` is 0 for anything but a collection page.

    `authorization` is the raw Authorization header, so tests can check which secret a client sent.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    record_count: int
    authorization: str | None


class RequestLog:
    """An append-only, thread-safe list of `LoggedRequest`s."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
