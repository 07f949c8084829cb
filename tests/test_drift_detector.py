"""The drift detector's arithmetic, on pages built by hand."""

from __future__ import annotations

from batchsync.sources.drift import DriftDetector


def walk(pages: list[list[str]], totals: list[int | None] | None = None) -> DriftDetector:
    detector = DriftDetector()
    for index, keys in enumerate(pages):
        detector.observe_page(keys, totals[index] if totals else None, is_pass_start=index == 0)
    return detector


def test_a_stable_collection_shows_no_drift() -> None:
    detector = walk([["a", "b"], ["c", "d"], ["e"]])
    detector.observe_front_again(["a", "b"])
    assert not detector.report().is_drift


def test_inserts_at_the_front_show_as_repeated_keys_and_a_shifted_first_page() -> None:
    detector = walk([["a", "b", "c"], ["c", "d", "e"]])  # "x" was inserted at the front after page 1
    detector.observe_front_again(["x", "a", "b"])
    assert (detector.report().inserted, detector.report().deleted) == (1, 0)


def test_deletes_at_the_front_show_in_the_first_page_even_without_a_total() -> None:
    detector = walk([["a", "b", "c"], ["f", "g", "h"]])  # "a" and "b" were deleted after page 1
    detector.observe_front_again(["c", "d", "e"])
    assert (detector.report().inserted, detector.report().deleted) == (0, 2)


def test_a_changing_total_counts_too() -> None:
    detector = walk([["a"], ["b"], ["c"]], totals=[10, 12, 7])
    assert detector.report().deleted == 3 and detector.report().inserted == 0


def test_a_first_page_with_nothing_in_common_reports_at_least_a_page() -> None:
    detector = walk([["a", "b"]])
    detector.observe_front_again(["y", "z"])
    assert (detector.report().inserted, detector.report().deleted) == (2, 2)
