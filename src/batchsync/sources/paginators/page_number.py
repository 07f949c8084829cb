"""Page-number paging (Zoho, Shopify REST, most admin APIs): `?page=3&per_page=200`.

Reads, for example (Zoho): `{"items": [...], "page_context": {"page": 3, "has_more_page": true}}`.
Stops on `has_more_path` when set, else when `total_pages_path` says this was the last page, else on a
short page; always on an empty page. With both, `has_more_path` decides and `total_pages_path` bounds it:
a pass past twice the page count is reading the same pages again and fails.
"""

from __future__ import annotations

from batchsync.config import PageNumberPaginatorConfig
from batchsync.errors import PaginationError
from batchsync.models import Cursor, Page, PageRequest
from batchsync.paths import DottedPath
from batchsync.sources.paginators.base import read_flag, read_int


class PageNumberPaginator:
    is_positional = True

    def __init__(self, config: PageNumberPaginatorConfig, page_size: int | None = None) -> None:
        self._config = config
        # Without size_param the API picks the size; page_size is then only the short-page threshold,
        # which an override (CLI --batch-size) must not change.
        self._page_size = (page_size or config.page_size) if config.size_param else config.page_size
        self._has_more = DottedPath.parse(config.has_more_path) if config.has_more_path else None
        self._total_pages = DottedPath.parse(config.total_pages_path) if config.total_pages_path else None

    @property
    def fingerprint(self) -> str:
        # Page N means different records under another page size, so the size is part of the position.
        return f"page_number:{self._page_size}:{self._config.start}"

    @property
    def settings(self) -> dict[str, str]:
        start = str(self._config.start)
        return {"paginator": "page_number", "page_size": str(self._page_size), "start": start}

    def first_cursor(self) -> Cursor:
        return self._config.start

    def request_for(self, cursor: Cursor, template: PageRequest) -> PageRequest:
        params = {self._config.page_param: str(cursor)}
        if self._config.size_param:
            params[self._config.size_param] = str(self._page_size)
        return template.with_params(**params)

    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        if not page.records:
            return None
        next_page = int(cursor) + 1
        if self._has_more is not None:
            if not read_flag(page, self._has_more):
                return None
            if self._total_pages is not None:
                self._check_within_total(page, next_page)
            return next_page
        if self._total_pages is not None:
            last_page = self._config.start + read_int(page, self._total_pages, "total_pages_path") - 1
            return next_page if next_page <= last_page else None
        return next_page if len(page.records) >= self._page_size else None

    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        """`expected_total` is the page count times `page_size` (see `expected_total`), so counting in
        pages of `page_size` finds the last page whatever size the API really serves."""
        following = int(cursor) + 1
        pages_before = following - self._config.start
        if expected_total is not None and pages_before * self._page_size >= expected_total:
            return None
        return following

    def expected_total(self, page: Page) -> int | None:
        if self._total_pages is None:
            return None
        return read_int(page, self._total_pages, "total_pages_path") * self._page_size

    def describe(self, cursor: Cursor) -> str:
        return f"page {cursor}"

    @property
    def position_hint(self) -> str:
        return f"is `page_param: {self._config.page_param}` right?"

    def _check_within_total(self, page: Page, next_page: int) -> None:
        """Counted in pages, not records: without `size_param` the API may serve more per page than
        `page_size` says. Past twice the page count plus one, the pages are not moving through the
        collection, and what the pass read cannot be trusted to be the collection."""
        assert self._total_pages is not None
        total_pages = read_int(page, self._total_pages, "total_pages_path")
        pages_read = next_page - self._config.start
        if pages_read > 2 * total_pages + 1:
            raise PaginationError(
                f"the answer from {page.response.url} says the collection has {total_pages} pages "
                f"(`total_pages_path: {self._config.total_pages_path}`), but this pass has read "
                f"{pages_read} and `has_more_path: {self._config.has_more_path}` still says more follow: "
                f"is `page_param: {self._config.page_param}` right, and does `total_pages_path` hold the "
                "page count? Once the cause is fixed, start the pass over (`batchsync run --full-refresh` "
                "or `batchsync reset`)",
                url=page.response.url,
            )
