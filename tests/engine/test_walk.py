"""PassWalker over a small in-memory PagedSource, writing to a real SQLite file: every page committed in
batches with the checkpoint after it, and a stop honoured after a committed batch, resumable from there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from walking import items_walker, walk_database

from batchsync.engine.walk import PassWalker
from batchsync.models import Checkpoint, Cursor, JsonResponse, Page
from batchsync.state import checkpoints


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from walk_database(tmp_path)


class ListSource:
    """Pages of a list, the cursor being the page's index; counts the pages fetched."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self._pages = pages
        self.fetched: list[Cursor] = []

    @property
    def is_positional(self) -> bool:
        return False

    @property
    def position_hint(self) -> str | None:
        return None

    def first_cursor(self) -> Cursor:
        return 0

    def fetch_page(self, cursor: Cursor) -> Page:
        assert isinstance(cursor, int)
        self.fetched.append(cursor)
        return Page(JsonResponse(f"memory://page/{cursor}", 200, {}, None), list(self._pages[cursor]))

    def next_cursor(self, _page: Page, cursor: Cursor) -> Cursor | None:
        assert isinstance(cursor, int)
        return cursor + 1 if cursor + 1 < len(self._pages) else None

    def expected_total(self, _page: Page) -> int | None:
        return sum(len(records) for records in self._pages)

    def cursor_after_full_page(self, _cursor: Cursor, _expected_total: int | None) -> Cursor | None:
        return None  # fetched one page ahead only, as the tests here count

    def describe_position(self, cursor: Cursor) -> str:
        return f"page {cursor}"


PAGES = [[{"id": f"r{page}-{i}", "n": page * 10 + i} for i in range(5)] for page in range(3)]


def walker(
    source: ListSource,
    stop: threading.Event,
    committed: list[Checkpoint],
    *,
    stop_after_a_batch: bool = False,
) -> PassWalker:
    """A walker writing batches of 2 records; `committed` collects the checkpoint after each batch."""

    def on_batch(checkpoint: Checkpoint, _pages: int, _total: int | None) -> None:
        committed.append(checkpoint)
        if stop_after_a_batch:
            stop.set()

    return items_walker(source, db_batch_size=2, stop=stop, on_batch=on_batch)


def stored_rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {key: n for key, n in connection.execute(text("SELECT id, n FROM items"))}


def every_row() -> dict[str, int]:
    return {record["id"]: record["n"] for page in PAGES for record in page}


def test_a_pass_commits_every_page_in_batches_and_ends_complete(engine: Engine) -> None:
    source, committed = ListSource(PAGES), list[Checkpoint]()
    walk = walker(source, threading.Event(), committed)
    with engine.connect() as connection:
        final = walk.walk(connection, Checkpoint(cursor=0))
        stored = checkpoints.load(connection, "items")

    assert stored_rows(engine) == every_row()
    assert final.is_complete and final.pass_records == 15 and stored == final
    assert len(committed) == 9  # three batches (2 + 2 + 1 records) per page
    assert [(c.cursor, c.skip_records) for c in committed[:3]] == [(0, 2), (0, 4), (1, 0)]
    assert source.fetched == [0, 1, 2] and walk.pages == 3 and walk.expected_total == 15


def test_a_stop_is_honoured_after_a_committed_batch_and_the_pass_resumes_there(engine: Engine) -> None:
    stop, committed = threading.Event(), list[Checkpoint]()
    first = walker(ListSource(PAGES), stop, committed, stop_after_a_batch=True)
    with engine.connect() as connection:
        stopped = first.walk(connection, Checkpoint(cursor=0))

    assert not stopped.is_complete and (stopped.cursor, stopped.skip_records) == (0, 2)
    assert set(stored_rows(engine)) == {"r0-0", "r0-1"}
    source = ListSource(PAGES)
    with engine.connect() as connection:
        resumed = walker(source, threading.Event(), []).walk(connection, stopped)

    assert resumed.is_complete and resumed.pass_records == 15 and stored_rows(engine) == every_row()
    assert source.fetched == [0, 1, 2]  # the page in flight again, its committed records skipped
