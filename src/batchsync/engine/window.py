"""Which pages are in flight: the next page of the pass, and up to `size - 1` more fetched ahead of it.

Only the page at the head is ever handed to the engine, and only once the real chain reached it: the
page before it came back, and the source's own `next_cursor` named it. The pages ahead were asked for on
a guess, `PagedSource.cursor_after_full_page` ("if this page comes back full, the next one is there");
when the real next cursor is another (a short page, the end of the pass, an API serving fewer records
than asked), every guess is dropped: the ones not started are cancelled, the answers (and errors) of the
started ones are ignored, and the window starts again from the real cursor. So pages are handed over,
and committed, strictly in page order, and a page past the end is never written.

A source that cannot guess (cursor, link and next-URL paging, python sources) keeps a window of one: the
next page is fetched while the current one is written, as before. Until one page has come back nothing
is guessed either, so with a total known from that page (`total_path`) no page past the end is asked for.

The window opens gradually and only as far as it is needed: one page, then two, four, ... up to `size`,
doubling each time the engine had to wait for the page at the head, and back to one when a guess proved
wrong. A pass of a page or two (a fan-out child, a small table) so asks for at most one page past its end
instead of `size - 1`; a slow API has the window at full width after a few pages; and against an API
that answers before the engine has written the page before, the window stays narrow, since more fetching
threads would only compete with the writing one for the interpreter and gain nothing. It never narrows
for pages that came in early: answers with latency come in bursts, and a window narrowed by a burst
would be too narrow for the wait that follows.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent import futures
from concurrent.futures import Future

from batchsync.engine.fetcher import PageFetcher
from batchsync.models import Cursor, Page
from batchsync.sources.base import PagedSource

_STOP_POLL_SECONDS = 0.25


class PageWindow:
    """Up to `size` pages in flight, in page order."""

    def __init__(self, source: PagedSource, fetcher: PageFetcher, size: int) -> None:
        self._source = source
        self._fetcher = fetcher
        self._size = max(1, size)
        self._width = 1
        """How many pages may be in flight now: grows to `_size` while the engine waits (see above)."""
        self._waited_for_head = False
        self._in_flight: deque[tuple[Cursor, Future[Page]]] = deque()
        self._abandoned: list[Future[Page]] = []
        """Dropped fetches that had already started: still running, or done and not yet forgotten."""

    def start(self, cursor: Cursor) -> None:
        """The pass goes on at `cursor`: ask for that page alone (nothing is known yet to guess from)."""
        self.discard()
        self._submit(cursor)

    def take_head(self) -> tuple[Cursor, Future[Page]]:
        """The next page of the pass: its cursor and its fetch."""
        cursor, pending = self._in_flight.popleft()
        self._waited_for_head = not pending.done()
        return cursor, pending

    def advance(self, next_cursor: Cursor | None, expected_total: int | None, *, held: int = 0) -> None:
        """The head page came back and the real chain goes on at `next_cursor` (None: the pass ended).
        Keeps the guesses that the real chain confirms, drops the rest, and fills the window again, to
        `held` pages fewer than it may hold (at least one): pages fetched and not yet committed, which a
        crash would cost as it costs those in flight."""
        if next_cursor is None:
            self.discard()
            return
        if self._in_flight and self._in_flight[0][0] != next_cursor:
            self.discard()
            self._width = 1
        elif self._waited_for_head:
            self._width = min(self._size, self._width * 2)
        if not self._in_flight:
            self._submit(next_cursor)
        while len(self._in_flight) < max(1, min(self._width, self._size - held)):
            guess = self._source.cursor_after_full_page(self._in_flight[-1][0], expected_total)
            if guess is None:
                return
            self._submit(guess)

    def discard(self) -> None:
        """Drop every page in flight: cancel the fetches not started, ignore the others' outcome."""
        # Forget the ones that ended, so a pass that drops pages often (a capped limit) holds no pages.
        self._abandoned = [future for future in self._abandoned if not future.done()]
        while self._in_flight:
            _cursor, future = self._in_flight.pop()
            if not future.cancel():
                self._abandoned.append(future)

    def settle(self, stop: threading.Event) -> None:
        """Wait until the dropped fetches already started have ended (or `stop` is set), so none is
        still running, or retrying, once the pass is over and the run closes its HTTP client."""
        self.discard()
        for future in self._abandoned:
            while not stop.is_set() and not futures.wait([future], timeout=_STOP_POLL_SECONDS).done:
                pass
        self._abandoned.clear()

    def _submit(self, cursor: Cursor) -> None:
        self._in_flight.append((cursor, self._fetcher.submit(cursor)))
