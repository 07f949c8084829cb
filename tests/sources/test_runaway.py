"""RunawayDetector: a page that only repeats the one before it stops the pass; anything else never does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchsync.errors import PaginationError
from batchsync.sources.runaway import RunawayDetector


def detector() -> RunawayDetector:
    return RunawayDetector(lambda cursor: f"offset {cursor}", "is `offset_param: start` right?")


def test_a_repeated_page_of_ten_records_stops_at_once_naming_both_pages_and_the_hint() -> None:
    runaway = detector()
    runaway.observe_page(list(range(10)), 0, "u0")
    with pytest.raises(PaginationError) as raised:
        runaway.observe_page(list(reversed(range(10))), 10, "u10")  # order does not matter
    assert str(raised.value).startswith(
        "the API returned the same 10 records for offset 10 as for offset 0: is `offset_param: start` right?"
    )
    assert raised.value.url == "u10"


@pytest.mark.parametrize(("page_size", "repeats"), [(1, 10), (2, 5), (3, 4), (9, 2), (10, 1), (200, 1)])
def test_small_pages_stop_once_ten_records_were_read_again_in_a_row(page_size: int, repeats: int) -> None:
    runaway = detector()
    keys = list(range(page_size))
    runaway.observe_page(keys, 0, "u")
    for repeat in range(1, repeats):
        runaway.observe_page(keys, repeat * page_size, "u")
    with pytest.raises(PaginationError, match="as for offset 0"):
        runaway.observe_page(keys, repeats * page_size, "u")


def test_a_different_page_between_repeats_starts_the_count_again() -> None:
    runaway = detector()
    for cursor in range(20):  # 1, 1, 2, 2, 3, 3, ...: each page repeats once, never ten in a row
        runaway.observe_page([cursor // 2], cursor, "u")


def test_empty_and_keyless_pages_are_never_repeats() -> None:
    runaway = detector()
    for cursor in range(20):
        runaway.observe_page([], cursor, "u")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sets(st.integers(0, 30), min_size=1, max_size=12), max_size=40))
def test_pages_whose_keys_differ_from_the_previous_page_never_stop_the_pass(pages: list[set[int]]) -> None:
    """However many records consecutive pages share (offset drift), a page with one key the previous
    page lacks, or lacking one it had, is progress."""
    runaway = detector()
    previous: set[int] = set()
    for cursor, keys in enumerate(pages):
        if keys == previous:
            keys = keys | {100 + cursor}
        runaway.observe_page(sorted(keys), cursor, "u")
        previous = keys
