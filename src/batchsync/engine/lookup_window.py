"""A lookup's batches asked up to N at a time, and handed back in the order they were read.

The batches of a lookup are independent requests, so several may be out at once; their answers are still
committed in key order, because the checkpoint is the last key of the contiguous committed prefix: a run
killed at any instant resumes after it and asks again for at most the N batches that were out. The window
holds only those N batches of keys (and their answers), never the whole keys table.

Workers are daemon threads, as the pull's page fetcher is (engine/fetcher.py): a request hung on a dead
server must never keep the process from exiting. They are started as batches arrive, at most N; with N = 1
there is one, and the requests go out in the serial loop's order: read a batch, ask, commit, read the next.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Generic, TypeVar

Answer = TypeVar("Answer")

_STOP_POLL_SECONDS = 0.25


class StoppedWaiting(Exception):
    """A stop was requested while the next batch in key order was still being asked."""


class LookupWindow(Generic[Answer]):
    """Up to `size` batches of keys in flight, each asked with `ask` on a worker thread, answered in order."""

    def __init__(self, ask: Callable[[list[Any]], Answer], size: int) -> None:
        """`ask` runs on the worker threads, so it must be safe to call from several at once; whatever it
        raises comes back from `next` for that batch (an error that should stop the run)."""
        self._ask = ask
        self._size = size
        self._pending: deque[tuple[list[Any], Future[Answer]]] = deque()
        self._queue: queue.SimpleQueue[tuple[list[Any], Future[Answer]] | None] = queue.SimpleQueue()
        self._workers = 0

    def __len__(self) -> int:
        """Batches sent and not yet handed back."""
        return len(self._pending)

    def has_room(self) -> bool:
        """Whether another batch may go out: fewer than `size` are out, and none has failed in a way that
        stops the run (no point asking more; the batches before the failed one are still handed back)."""
        if len(self._pending) >= self._size:
            return False
        return not any(future.done() and future.exception() is not None for _, future in self._pending)

    def submit(self, keys: list[Any]) -> None:
        future: Future[Answer] = Future()
        self._pending.append((keys, future))
        self._queue.put((keys, future))
        if self._workers < min(self._size, len(self._pending)):
            self._start_worker()

    def next(self, stop: threading.Event) -> tuple[list[Any], Answer]:
        """The first batch still out (in key order) and its answer, once it has one; re-raises what `ask`
        raised for it, or raises StoppedWaiting as soon as `stop` is set while it is still being asked."""
        keys, future = self._pending[0]
        while True:
            try:
                answer = future.result(timeout=_STOP_POLL_SECONDS)
                break
            except FutureTimeout:
                if stop.is_set():
                    raise StoppedWaiting from None
        self._pending.popleft()
        return keys, answer

    def close(self) -> None:
        """Drop the batches not yet sent and let the workers end; a request already out is not waited for
        (its answer is never committed, so the next run asks for it again)."""
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        for _ in range(self._workers):
            self._queue.put(None)

    def _start_worker(self) -> None:
        context = contextvars.copy_context()  # so log lines from the worker carry the run id too
        name = f"batchsync-lookup-{self._workers + 1}"
        threading.Thread(target=context.run, args=(self._work,), name=name, daemon=True).start()
        self._workers += 1

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            keys, future = item
            if not future.set_running_or_notify_cancel():
                continue  # dropped by close() before it was sent
            try:
                future.set_result(self._ask(keys))
            except BaseException as exc:  # handed to the waiting thread, which re-raises it
                future.set_exception(exc)
