"""PageWindow on its own, with fetches answered by hand: it widens only while the engine has to wait for
the page at the head, stays one page wide against an API that answers first, and starts again one page
wide after a wrong guess."""

from __future__ import annotations

from concurrent.futures import Future
from typing import cast

from batchsync.engine.fetcher import PageFetcher
from batchsync.engine.window import PageWindow
from batchsync.models import Cursor, Page
from batchsync.sources.base import PagedSource

_SIZE = 8


class HandFetcher:
    """Hands out fetches that end only when the test says; remembers every one asked for, in order."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, Future[Page]]] = []

    def submit(self, cursor: Cursor) -> Future[Page]:
        pending: Future[Page] = Future()
        pending.set_running_or_notify_cancel()
        self.asked.append((cast(int, cursor), pending))
        return pending

    def in_flight(self) -> list[int]:
        return [cursor for cursor, pending in self.asked if not pending.done()]

    def answer(self, cursor: int) -> None:
        for asked, pending in self.asked:
            if asked == cursor and not pending.done():
                pending.set_result(cast(Page, object()))


class NextPage:
    """Page numbers: the page after a full page `n` is `n + 1`."""

    def cursor_after_full_page(self, cursor: Cursor, _expected_total: int | None) -> Cursor | None:
        return cast(int, cursor) + 1


def window() -> tuple[PageWindow, HandFetcher]:
    fetcher = HandFetcher()
    return PageWindow(cast(PagedSource, NextPage()), cast(PageFetcher, fetcher), _SIZE), fetcher


def test_it_doubles_each_time_the_engine_waits_for_the_head_up_to_its_size() -> None:
    pages, fetcher = window()
    pages.start(0)
    widths = []
    for page in range(6):
        cursor, _pending = pages.take_head()  # not answered yet: the engine waits for it
        assert cursor == page
        fetcher.answer(page)
        pages.advance(page + 1, None)
        widths.append(len(fetcher.in_flight()))

    assert widths == [2, 4, 8, 8, 8, 8]


def test_against_an_api_that_answers_before_the_engine_asks_it_stays_one_page_wide() -> None:
    pages, fetcher = window()
    pages.start(0)
    for page in range(20):
        fetcher.answer(page)  # the answer is in before the engine is done with the page before
        cursor, _pending = pages.take_head()
        assert cursor == page
        pages.advance(page + 1, None)
        assert fetcher.in_flight() == [page + 1]


def test_a_wrong_guess_drops_the_guesses_and_starts_again_one_page_wide() -> None:
    pages, fetcher = window()
    pages.start(0)
    for page in range(3):
        pages.take_head()
        fetcher.answer(page)
        pages.advance(page + 1, None)
    assert fetcher.in_flight() == [3, 4, 5, 6, 7, 8, 9, 10]

    pages.take_head()
    fetcher.answer(3)
    pages.advance(100, None)  # page 3 came back short: the real chain goes on elsewhere

    assert fetcher.in_flight()[-1] == 100
    assert [cursor for cursor, _ in fetcher.asked][-1] == 100
    assert pages.take_head()[0] == 100
