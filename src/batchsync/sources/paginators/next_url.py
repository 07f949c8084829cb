"""Next-URL paging (Salesforce `nextRecordsUrl`, many JSON:API and HAL APIs): the body names the next page.

Reads, for example: `{"done": false, "nextRecordsUrl": "/services/data/v59.0/query/01g-2000",
"records": [...]}`. A relative URL is resolved against the page it came from (not the base URL), as a
browser would. Stops when the URL is absent, null or empty, and on an empty page.
"""

from __future__ import annotations

from typing_extensions import override

from batchsync.config import NextUrlPaginatorConfig
from batchsync.models import Cursor, Page, PageRequest
from batchsync.paths import MISSING, DottedPath
from batchsync.sources.paginators.base import (
    Paginator,
    describe_url_cursor,
    next_page_url,
    request_for_url_cursor,
)


class NextUrlPaginator(Paginator):
    is_positional = False

    def __init__(self, config: NextUrlPaginatorConfig, page_size: int | None = None) -> None:
        self._config = config
        self._page_size = page_size or config.page_size
        self._next_url = DottedPath.parse(config.next_url_path)

    @property
    def fingerprint(self) -> str:
        return "next_url"

    @property
    def settings(self) -> dict[str, str]:
        return {"paginator": "next_url"}

    def first_cursor(self) -> Cursor:
        return None

    def request_for(self, cursor: Cursor, template: PageRequest) -> PageRequest:
        return request_for_url_cursor(cursor, template, self._config.size_param, self._page_size)

    @override
    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        if not page.records:
            return None
        value = self._next_url.get(page.response.body)
        if value in (MISSING, None, "") or not isinstance(value, str):
            return None
        return next_page_url(page.response.url, value)

    @override
    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        return None  # only the answer names the next page

    @override
    def expected_total(self, page: Page) -> int | None:
        return None

    def describe(self, cursor: Cursor) -> str:
        return describe_url_cursor(cursor, "the next URL")

    @property
    def position_hint(self) -> str:
        return f"does `next_url_path: {self._config.next_url_path}` hold the next page's URL?"
