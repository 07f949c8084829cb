"""Fetching the next page on a helper thread while the current one is written.

The engine asks for one page at a time and only after it knows that page's cursor, so at most two pages
are ever fetched but not committed: the one being written and the one being fetched.
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
    """One daemon thread that fetches the page it is handed.

    A daemon, because a request hung on a dead server must never keep the process from exiting; one
    long-lived thread, because starting a thread per page costs about a millisecond under the GIL.
    """

    def __init__(self, fetch: Callable[[Cursor], Page]) -> None:
        self._fetch = fetch
        self._requests: queue.SimpleQueue[tuple[Cursor, Future[Page]] | None] = queue.SimpleQueue()
        context = contextvars.copy_context()  # so log lines from this thread carry the run id too
        threading.Thread(target=context.run, args=(self._work,), name="batchsync-fetch", daemon=True).start()

    def submit(self, cursor: Cursor) -> Future[Page]:
        future: Future[Page] = Future()
        self._requests.put((cursor, future))
        return future

    def close(self) -> None:
        self._requests.put(None)

    def _work(self) -> None:
        while (request := self._requests.get()) is not None:
            cursor, future = request
            try:
                future.set_result(self._fetch(cursor))
            except BaseException as exc:  # handed to the waiting thread, which re-raises it
                future.set_exception(exc)


def wait_for(pending: Future[Page], stop: threading.Event) -> Page:
    """The page, or StoppedWaiting as soon as `stop` is set; the fetch's own error is re-raised."""
    while True:
        try:
            return pending.result(timeout=_STOP_POLL_SECONDS)
        except FutureTimeout:
            if stop.is_set():
                raise StoppedWaiting from None
