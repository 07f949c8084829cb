"""Noticing a pass that does not move on: an API that answers as if it ignored the position asked for.

An API that does not read `offset_param` (or `page_param`, or the cursor) serves its first page again
for every request, and a paginator told "more follow" by `has_more_path`, or handed a fresh cursor each
time, would fetch those records forever. The sign is a page whose keys are exactly the previous page's.

Drift can produce one such page legitimately: exactly a page's worth of records inserted at the front
between two requests pushes the previous page back onto the next one. Pages that merely share a record or
two are no sign at all (their key sets differ). An exact repeat of a large page is very unlikely to be
drift; of a one-record page it is not, so the run stops only once `_REREAD_RECORDS_LIMIT` records in a
row were read again: at the first repeat for pages of that many records or more, after a few for tiny
pages. The waste is bounded either way.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from batchsync.errors import PaginationError
from batchsync.models import Cursor

_REREAD_RECORDS_LIMIT = 10


class RunawayDetector:
    """Fed every page of a pass in order; raises PaginationError when the pass stopped moving on."""

    def __init__(self, describe: Callable[[Cursor], str], hint: str) -> None:
        """`describe` names a page by its cursor and `hint` says which settings to check, both for the
        message (see `PagedSource.describe_position` and `PagedSource.position_hint`)."""
        self._describe = describe
        self._hint = hint
        self._previous: frozenset[Hashable] = frozenset()
        self._first_cursor: Cursor = None
        self._reread = 0

    def observe_page(self, keys: Sequence[Hashable], cursor: Cursor, url: str) -> None:
        """`keys` are the page's record keys (None left out), `cursor` where it was fetched. Raises
        PaginationError, before the page is written, when the pass reads the same records again."""
        current = frozenset(keys)
        if not current or current != self._previous:
            self._previous, self._first_cursor, self._reread = current, cursor, 0
            return
        self._reread += len(keys)
        if self._reread >= _REREAD_RECORDS_LIMIT:
            raise PaginationError(
                f"the API returned the same {len(keys)} records for {self._describe(cursor)} as for "
                f"{self._describe(self._first_cursor)}: {self._hint} Stopping rather than reading them "
                "again; the checkpoint is kept, so a rerun once the cause is fixed carries on from there",
                url=url,
            )
