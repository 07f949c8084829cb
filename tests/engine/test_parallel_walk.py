"""PassWalker fetching pages ahead (concurrency > 1) over an in-memory offset collection, read through the
real OffsetPaginator and written to a real SQLite file. Whatever the sizes, the concurrency and where a
pass is cut short (a stop, or a crash right after a commit), the table after resuming equals an
uninterrupted run's, and the stored checkpoint never covers a record that is not committed."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from walking import items_walker, walk_database

from batchsync.config import OffsetPaginatorConfig
from batchsync.engine.walk import PassWalker
from batchsync.models import Checkpoint, Cursor, JsonResponse, Page
from batchsync.sources.paginators import OffsetPaginator
from batchsync.state import checkpoints

HELD_FROM_PAGE = 11
"""0-based: the twelfth page is the first that `together` holds."""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from walk_database(tmp_path)


class OffsetCollection:
    """`size` records served by offset, at most `serves` per page whatever the limit asked (an API that
    caps the limit); `has_more` tells the end, or, without it, a short page. Records the offsets asked for
    from any thread; the paginator is batchsync's own."""

    def __init__(
        self,
        size: int,
        limit: int,
        *,
        serves: int | None = None,
        has_more: bool = True,
        together: threading.Barrier | None = None,
        latency: float = 0.0,
    ) -> None:
        """`together`: the fetches of `parties` pages from page `HELD_FROM_PAGE + 1` on wait there for each
        other, so the barrier breaks (and the walk fails) unless that many pages are in flight at once."""
        self.records = [{"id": f"r{i:05}", "n": i} for i in range(size)]
        config = {"type": "offset", "limit": limit, **({"has_more_path": "more"} if has_more else {})}
        self._paginator = OffsetPaginator(OffsetPaginatorConfig.model_validate(config))
        self._limit, self._serves = limit, min(serves or limit, limit)
        self._lock = threading.Lock()
        self._jitter = random.Random(len(self.records))
        self._together = together
        self._latency = latency
        self.fetched: list[int] = []

    @property
    def is_positional(self) -> bool:
        return True

    @property
    def position_hint(self) -> str | None:
        return None

    def first_cursor(self) -> Cursor:
        return 0

    def fetch_page(self, cursor: Cursor) -> Page:
        assert isinstance(cursor, int)
        with self._lock:
            self.fetched.append(cursor)
            jitter = self._jitter.random() / 1000 + self._latency
        first = HELD_FROM_PAGE * self._limit  # offset of the first page held
        if self._together is not None and first <= cursor < first + self._together.parties * self._limit:
            self._together.wait()
        time.sleep(jitter)  # not waiting for anything: it only shuffles the order the answers come back in
        served = self.records[cursor : cursor + self._serves]
        body = {"more": cursor + len(served) < len(self.records)}
        return Page(JsonResponse(f"memory://items?offset={cursor}", 200, {}, body), list(served))

    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        return self._paginator.next_cursor(page, cursor)

    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        return self._paginator.cursor_after_full_page(cursor, expected_total)

    def expected_total(self, _page: Page) -> int | None:
        return None

    def describe_position(self, cursor: Cursor) -> str:
        return f"offset {cursor}"


class Crash(Exception):
    """Raised right after a commit: the process dying between two batches."""


def walker(source: OffsetCollection, concurrency: int, stop: threading.Event, on_batch: Any) -> PassWalker:
    return items_walker(source, db_batch_size=7, stop=stop, on_batch=on_batch, concurrency=concurrency)


def stored(engine: Engine) -> tuple[dict[str, int], Checkpoint | None]:
    with engine.connect() as connection:
        rows = {key: n for key, n in connection.execute(text("SELECT id, n FROM items"))}
        return rows, checkpoints.load(connection, "items")


def reset(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM items"))
        connection.execute(text("DELETE FROM batchsync_checkpoints"))


def assert_checkpoint_covers_only_committed(engine: Engine, source: OffsetCollection) -> None:
    """The records before the checkpoint's position are exactly the table's: none missing, none ahead."""
    rows, checkpoint = stored(engine)
    assert checkpoint is not None
    position = len(source.records) if checkpoint.is_complete else int(checkpoint.cursor or 0)
    position += checkpoint.skip_records
    assert rows == {r["id"]: r["n"] for r in source.records[:position]}
    assert checkpoint.pass_records == position


def run_until_cut(
    engine: Engine, source: OffsetCollection, concurrency: int, cut_after: int, by_stop: bool
) -> Checkpoint:
    """Walk from the start until `cut_after` batches are committed (then stop or crash), checking the
    stored checkpoint against the table after every commit; returns the stored checkpoint."""
    stop, commits = threading.Event(), [0]

    def on_batch(_checkpoint: Checkpoint, _pages: int, _total: int | None) -> None:
        assert_checkpoint_covers_only_committed(engine, source)
        commits[0] += 1
        if commits[0] == cut_after:
            if not by_stop:
                raise Crash
            stop.set()

    with engine.connect() as connection, contextlib.suppress(Crash):
        walker(source, concurrency, stop, on_batch).walk(connection, Checkpoint(cursor=0))
    _rows, checkpoint = stored(engine)
    assert checkpoint is not None
    return checkpoint


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.integers(0, 120),
    limit=st.integers(1, 25),
    capped=st.booleans(),
    has_more=st.booleans(),
    concurrency=st.sampled_from([1, 2, 3, 8, 16]),
    cut_after=st.integers(1, 30),
    by_stop=st.booleans(),
)
def test_a_pass_cut_anywhere_resumes_to_the_uninterrupted_table(
    engine: Engine,
    size: int,
    limit: int,
    capped: bool,
    has_more: bool,
    concurrency: int,
    cut_after: int,
    by_stop: bool,
) -> None:
    reset(engine)
    # A capped API without has_more ends at its first (short) page, as the paginator documents.
    serves = max(1, limit // 2) if capped and has_more else None
    source = OffsetCollection(size, limit, serves=serves, has_more=has_more)
    checkpoint = run_until_cut(engine, source, concurrency, cut_after, by_stop)

    resumed = OffsetCollection(size, limit, serves=serves, has_more=has_more)
    if not checkpoint.is_complete:
        with engine.connect() as connection:
            final = walker(resumed, concurrency, threading.Event(), lambda *_: None).walk(
                connection, checkpoint
            )
        assert final.is_complete

    assert stored(engine)[0] == {r["id"]: r["n"] for r in source.records}
    assert_checkpoint_covers_only_committed(engine, resumed)
    if serves is None:  # every guess a real page: those fetched twice are the ones in flight at the cut
        refetched = set(resumed.fetched) & set(source.fetched)
        assert len(refetched) <= concurrency + 1


def test_pages_fetched_ahead_are_dropped_when_the_api_serves_fewer_than_asked(engine: Engine) -> None:
    source = OffsetCollection(100, 10, serves=4)
    with engine.connect() as connection:
        final = walker(source, 8, threading.Event(), lambda *_: None).walk(connection, Checkpoint(cursor=0))

    assert final.is_complete and stored(engine)[0] == {r["id"]: r["n"] for r in source.records}
    assert sorted(set(range(0, 100, 4))) == sorted({o for o in source.fetched if o % 4 == 0 and o < 100})
    assert len(source.fetched) > 25, "guessed offsets (+10) were asked for, and their pages not written"


def test_with_concurrency_8_the_next_8_pages_are_in_flight_at_once(engine: Engine) -> None:
    # Pages 12..19 (offsets 110..180) each wait until all eight are being fetched. With 20 ms a page the
    # engine waits for pages, so the window doubles (one, two, four, eight pages) well before page 12.
    together = threading.Barrier(8, timeout=30)
    source = OffsetCollection(200, 10, together=together, latency=0.02)
    with engine.connect() as connection:
        final = walker(source, 8, threading.Event(), lambda *_: None).walk(connection, Checkpoint(cursor=0))

    assert final.is_complete and stored(engine)[0] == {r["id"]: r["n"] for r in source.records}
    assert sorted(o for o in source.fetched if o < 200) == list(range(0, 200, 10)), "each page once"
    assert len([o for o in source.fetched if o >= 200]) <= 7, "at most N-1 guesses past the end"


def test_a_short_pass_asks_for_at_most_one_page_past_its_end(engine: Engine) -> None:
    # The window opens one page, then two: a two-page pass (a fan-out child, a small table) at concurrency
    # 8 guesses one page past its end, not seven.
    source = OffsetCollection(20, 10)
    with engine.connect() as connection:
        final = walker(source, 8, threading.Event(), lambda *_: None).walk(connection, Checkpoint(cursor=0))

    assert final.is_complete and stored(engine)[0] == {r["id"]: r["n"] for r in source.records}
    assert sorted(o for o in source.fetched if o < 20) == [0, 10]
    assert len([o for o in source.fetched if o >= 20]) <= 1
