"""Offset/limit paging (Oracle, many SQL-backed APIs): `?offset=200&limit=100`.

Reads, for example: `{"items": [...], "count": 100, "hasMore": true, "offset": 200, "totalResults": 1234}`.
Stops on `has_more_path` when set, else when `total_path` says every record was served, else on a short
page; always on an empty page. The next offset adds the records actually served, so with
`has_more_path` or `total_path` an API that caps the limit below the one asked for still loses nothing;
with neither, such a capped page looks short and ends the pass (set `limit` to the API's maximum).
With both, `has_more_path` decides and `total_path` bounds it: a pass past twice the total is reading the
same records again (an API that ignores `offset_param` says "more" forever) and fails.
"""

from __future__ import annotations

from batchsync.config import OffsetPaginatorConfig
from batchsync.errors import PaginationError
from batchsync.models import Cursor, Page, PageRequest
from batchsync.paths import DottedPath
from batchsync.sources.paginators.base import read_flag, read_int


class OffsetPaginator:
    is_positional = True

    def __init__(self, config: OffsetPaginatorConfig, limit: int | None = None) -> None:
        self._config = config
        self._limit = limit or config.limit
        self._has_more = DottedPath.parse(config.has_more_path) if config.has_more_path else None
        self._total = DottedPath.parse(config.total_path) if config.total_path else None

    @property
    def fingerprint(self) -> str:
        return "offset"

    @property
    def settings(self) -> dict[str, str]:
        return {"paginator": "offset"}

    def first_cursor(self) -> Cursor:
        return 0

    def request_for(self, cursor: Cursor, template: PageRequest) -> PageRequest:
        return template.with_params(
            **{self._config.offset_param: str(cursor), self._config.limit_param: str(self._limit)}
        )

    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        served = len(page.records)
        if served == 0:
            return None
        next_offset = int(cursor) + served
        if self._has_more is not None:
            if not read_flag(page, self._has_more):
                return None
            if self._total is not None:
                self._check_within_total(page, next_offset, served)
            return next_offset
        if self._total is not None:
            return next_offset if next_offset < read_int(page, self._total, "total_path") else None
        return next_offset if served >= self._limit else None

    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        """A full page holds `limit` records; an API that serves fewer (a capped limit) makes the real
        next offset another, and the engine drops the pages it fetched on this guess."""
        following = int(cursor) + self._limit
        return None if expected_total is not None and following >= expected_total else following

    def expected_total(self, page: Page) -> int | None:
        return read_int(page, self._total, "total_path") if self._total else None

    def describe(self, cursor: Cursor) -> str:
        return f"offset {cursor}"

    @property
    def position_hint(self) -> str:
        return f"is `offset_param: {self._config.offset_param}` right?"

    def _check_within_total(self, page: Page, next_offset: int, served: int) -> None:
        """The offset counts the records this pass has read. Past twice the total plus a page (totals
        drift a little during a sync, never by that much), the pages are not moving through the
        collection, and the records read so far cannot be trusted to be the collection."""
        assert self._total is not None
        total = read_int(page, self._total, "total_path")
        if next_offset > 2 * total + served:
            raise PaginationError(
                f"the answer from {page.response.url} says the collection holds {total} records "
                f"(`total_path: {self._config.total_path}`), but this pass has read {next_offset} and "
                f"`has_more_path: {self._config.has_more_path}` still says more follow: is "
                f"`offset_param: {self._config.offset_param}` right, and does `total_path` hold the "
                "total? Once the cause is fixed, start the pass over (`batchsync run --full-refresh` or "
                "`batchsync reset`)",
                url=page.response.url,
            )
