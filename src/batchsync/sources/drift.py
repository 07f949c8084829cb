"""Noticing a collection that changes while it is paged by position (offset, page number, page links).

Records inserted at the front push the rest back: the next page repeats records already seen. Records
deleted at the front pull the rest forward: the next page skips some. Naive tools miss both silently.
This watches three signs, each cheap: keys repeated from the previous two pages, the API's total
changing mid-pass, and — once a pass that started in this run ends — the first page read again and
compared with how it began. Counts are exact while each change is smaller than a page.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from batchsync.models import DriftReport


class DriftDetector:
    def __init__(self) -> None:
        self._previous: set[Hashable] = set()
        self._latest: set[Hashable] = set()
        self._repeated = 0
        self._first_total: int | None = None
        self._last_total: int | None = None
        self._first_page_keys: list[Hashable] | None = None
        self._front_inserted = 0
        self._front_deleted = 0

    def observe_page(self, keys: Sequence[Hashable], total: int | None, *, is_pass_start: bool) -> None:
        """Called for every page, in order; `is_pass_start` for the first page of a pass begun now."""
        if is_pass_start:
            self._first_page_keys = list(keys)
        self._repeated += sum(1 for key in keys if key in self._latest or key in self._previous)
        self._previous, self._latest = self._latest, set(keys)
        if total is not None:
            if self._first_total is None:
                self._first_total = total
            self._last_total = total

    @property
    def can_recheck_front(self) -> bool:
        """True when this run saw the pass's first page, so the front can be compared at the end."""
        return self._first_page_keys is not None

    def observe_front_again(self, keys: Sequence[Hashable]) -> None:
        """The first page as it is at the end of the pass.

        The first key present both then and now anchors the comparison: records ahead of it now were
        inserted, records ahead of it then were deleted. (Plain set differences would count records that
        merely shifted into the page as inserted.)
        """
        before = self._first_page_keys or []
        position_before = {key: index for index, key in enumerate(before)}
        anchor = next((index for index, key in enumerate(keys) if key in position_before), None)
        if anchor is None:  # nothing in common: everything on the page changed, at least a page's worth
            self._front_inserted, self._front_deleted = len(keys), len(before)
            return
        self._front_inserted = anchor
        self._front_deleted = position_before[keys[anchor]]

    def report(self) -> DriftReport:
        grown = shrunk = 0
        if self._first_total is not None and self._last_total is not None:
            grown = max(self._last_total - self._first_total, 0)
            shrunk = max(self._first_total - self._last_total, 0)
        return DriftReport(
            inserted=max(self._repeated, grown, self._front_inserted),
            deleted=max(shrunk, self._front_deleted),
        )


def drift_warning(report: DriftReport, will_repass: bool) -> str:
    advice = (
        "a second pass follows (on_drift: repass)"
        if will_repass
        else "records may have been skipped: set on_drift: repass, page with a stable sort, "
        "or sync incrementally"
    )
    return (
        f"offset drift: the collection changed while paged by position ({report.inserted} inserted, "
        f"{report.deleted} deleted ahead of the cursor); {advice}"
    )
