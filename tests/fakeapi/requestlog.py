"""What the fake API saw: one entry per request, so tests assert on the traffic a sync produced."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as answered: `record_count` is 0 for anything but a collection page delivered whole.

    `authorization` is the raw Authorization header, so tests can check which secret a client sent. `fault`
    names the misbehaviour injected into the answer ("server_error", "truncated", "rate_limited_enforced",
    "lookup_failed", ...; see `faults.py`, `limits.py` and `keycheck.py`), None for an honest one; a dropped
    connection is logged as status 0. For a key check, `record_count` counts the answers.

    `body` is the request body as text (None when empty, and for `/oauth/token`, whose form carries client
    secrets); `key_count` is how many keys a key-check request named, duplicates included, in its query or
    body (None for other requests, and for a key check whose keys could not be read).

    `received_at` is when the request arrived (`time.monotonic()`, before any latency), so tests can
    measure the pace of the traffic; it takes no part in comparisons.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int
    record_count: int
    authorization: str | None
    fault: str | None = None
    body: str | None = None
    key_count: int | None = None
    received_at: float = field(default=0.0, compare=False)


class RequestLog:
    """An append-only, thread-safe list of `LoggedRequest`s, with a running count of their faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []
        self._faults: Counter[str] = Counter()

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)
            if entry.fault is not None:
                self._faults[entry.fault] += 1

    def fault_counts(self) -> Counter[str]:
        """A copy of the count of logged entries per fault kind."""
        with self._lock:
            return Counter(self._faults)

    def entries(self) -> list[LoggedRequest]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._faults.clear()
