"""A paged collection: the source's URL and params + a paginator → pages of records.

The engine drives it one cursor at a time (`fetch_page`, then `next_cursor`), which keeps every position
a plain value it can checkpoint, and lets the fetch of the next page run while the current one is written.
`fetch_page` may run on several threads at once (pages fetched ahead: `cursor_after_full_page`);
`next_cursor` runs on the engine's thread only, page after page in order.
"""

from __future__ import annotations

from batchsync.config import RestSourceConfig
from batchsync.errors import PaginationError
from batchsync.http.client import HttpClient
from batchsync.models import Cursor, JSONObject, JSONValue, Page, PageRequest, RecordsText
from batchsync.paths import MISSING, DottedPath
from batchsync.sources.incremental import Incremental
from batchsync.sources.paginators import Paginator, make_paginator


def source_fingerprint(config: RestSourceConfig, page_size: int | None = None) -> str:
    """Changes when a stored cursor would no longer point at the same page."""
    return f"{make_paginator(config.paginator, page_size).fingerprint}|{config.base_url}{config.path}"


class PullSource:
    def __init__(
        self,
        config: RestSourceConfig,
        client: HttpClient,
        *,
        page_size: int | None = None,
        watermark: JSONValue = None,
    ) -> None:
        self.paginator: Paginator = make_paginator(config.paginator, page_size)
        self.incremental = Incremental(config.incremental) if config.incremental else None
        self._client = client
        self._records_path = DottedPath.parse(config.records_path) if config.records_path else None
        self._records_path_text = config.records_path or None
        params = config.query_params()
        if self.incremental is not None:
            params |= self.incremental.params_for(watermark)
        self._template = PageRequest(config.path, params)
        self._seen_cursors: set[str] = set()

    @property
    def is_positional(self) -> bool:
        return self.paginator.is_positional

    def first_cursor(self) -> Cursor:
        return self.paginator.first_cursor()

    def expected_total(self, page: Page) -> int | None:
        return self.paginator.expected_total(page)

    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        return self.paginator.cursor_after_full_page(cursor, expected_total)

    def describe_position(self, cursor: Cursor) -> str:
        return self.paginator.describe(cursor)

    @property
    def position_hint(self) -> str:
        return self.paginator.position_hint

    def fetch_page(self, cursor: Cursor) -> Page:
        """Fetch the page at `cursor`. Raises SourceError (incl. PaginationError for a missing list)."""
        response = self._client.fetch(self.paginator.request_for(cursor, self._template))
        records = self._records_of(response.body, response.url)
        text = None if response.text is None else RecordsText(response.text, self._records_path_text)
        return Page(response, records, text)

    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        """The next page's cursor; a cursor seen before in this run means the API loops: stop loudly."""
        following = self.paginator.next_cursor(page, cursor)
        if following is None:
            return None
        marker = repr(following)
        if following == cursor or marker in self._seen_cursors:
            raise PaginationError(
                f"the API sent the cursor {following!r} twice; stopping rather than looping",
                url=page.response.url,
            )
        self._seen_cursors.add(marker)
        return following

    def _records_of(self, body: JSONValue, url: str) -> list[JSONObject]:
        records = body if self._records_path is None else self._records_path.get(body)
        if records is MISSING:
            keys = ", ".join(list(body)[:10]) if isinstance(body, dict) else type(body).__name__
            raise PaginationError(
                f"records_path {self._records_path} not found in the answer from {url} (it has: {keys})",
                url=url,
            )
        if records is None:
            return []
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            where = f"records_path {self._records_path}" if self._records_path else "the answer"
            raise PaginationError(f"{where} from {url} is not a list of objects", url=url)
        return records
