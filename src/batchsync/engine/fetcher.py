"""Fetching pages on helper threads while the engine writes the one before them.

The engine decides which pages to ask for (see `engine/window.py`); this module only runs the fetches, up
to `workers` at once, and hands each result (or error) back through a `Future`. A fetch the engine no
longer wants is cancelled before it starts, or, once started, left to finish and ignored.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from batchsync.models import Cursor, Page

_STOP_POLL_SECONDS = 0.25


class StoppedWaiting(Exception):
    """A stop was requested while a page was still being fetched."""


class PageFetcher:
    """`workers` daemon threads that fetch the pages they are handed, in the order handed.

    Daemons, because a request hung on a dead server must never keep the process from exiting; long-lived
    threads, because starting a thread per page costs about a millisecond under the GIL. Each thread runs
    in a copy of the creating thread's context, so log lines from it carry the run id too.
    """

    def __init__(self, fetch: Callable[[Cursor], Page], workers: int = 1) -> None:
        self._fetch = fetch
        self._workers = max(1, workers)
        self._requests: queue.SimpleQueue[tuple[Cursor, Future[Page]] | None] = queue.SimpleQueue()
        for number in range(self._workers):
            context = contextvars.copy_context()
            name = f"batchsync-fetch-{number}"
            threading.Thread(target=context.run, args=(self._work,), name=name, daemon=True).start()

    def submit(self, cursor: Cursor) -> Future[Page]:
        future: Future[Page] = Future()
        self._requests.put((cursor, future))
        return future

    def close(self) -> None:
        """Ends every thread once it has finished what it was handed (cancelled fetches are skipped)."""
        for _ in range(self._workers):
            self._requests.put(None)

    def _work(self) -> None:
        while (request := self._requests.get()) is not None:
            cursor, future = request
            if not future.set_running_or_notify_cancel():
                continue  # discarded before it started: no request is sent for it
            try:
                future.set_result(self._fetch(cursor))
            except BaseException as exc:  # handed to the waiting thread, which re-raises it if it wants it
                future.set_exception(exc)


def wait_for(pending: Future[Page], stop: threading.Event) -> Page:
    """The page, or StoppedWaiting as soon as `stop` is set; the fetch's own error is re-raised."""
    while True:
        try:
            return pending.result(timeout=_STOP_POLL_SECONDS)
        except FutureTimeout:
            if stop.is_set():
                raise StoppedWaiting from None
