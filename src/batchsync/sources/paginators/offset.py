"""Offset/limit paging (Oracle, many SQL-backed APIs): `?offset=200&limit=100`.

Reads, for example: `{"items": [...], "count": 100, "hasMore": true, "offset": 200, "totalResults": 1234}`.
Stops on `has_more_path` when set, else when `total_path` says every record was served, else on a short
page; always on an empty page. The next offset adds the records actually served, so with
`has_more_path` or `total_path` an API that caps the limit below the one asked for still loses nothing;
with neither, such a capped page looks short and ends the pass (set `limit` to the API's maximum).
"""

from __future__ import annotations

from batchsync.config import OffsetPaginatorConfig
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
            return next_offset if read_flag(page, self._has_more) else None
        if self._total is not None:
            return next_offset if next_offset < read_int(page, self._total, "total_path") else None
        return next_offset if served >= self._limit else None

    def expected_total(self, page: Page) -> int | None:
        return read_int(page, self._total, "total_path") if self._total else None
