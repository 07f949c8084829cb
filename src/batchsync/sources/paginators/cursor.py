"""Cursor paging: an opaque cursor from the answer, or the last record's id (Stripe's `starting_after`).

Reads, for example: `{"items": [...], "next_cursor": "eyJvIjogMjAwfQ"}` with `next_cursor_path`, or
Stripe's `{"data": [...], "has_more": true}` with `cursor_from_last_record: id` and `has_more_path`.
Stops when the cursor is absent or empty, when `has_more_path` says so, on a short page when a limit is
sent and no other signal exists, and always on an empty page.
"""

from __future__ import annotations

from typing_extensions import override

from batchsync.config import CursorPaginatorConfig
from batchsync.errors import PaginationError
from batchsync.models import Cursor, Page, PageRequest
from batchsync.paths import MISSING, DottedPath
from batchsync.sources.paginators.base import Paginator, describe_opaque_cursor, read_flag


class CursorPaginator(Paginator):
    is_positional = False

    def __init__(self, config: CursorPaginatorConfig, limit: int | None = None) -> None:
        self._config = config
        # An override only means something when the limit is sent; otherwise the API's own size rules.
        self._limit = (limit or config.limit) if config.limit_param else None
        self._next_cursor = DottedPath.parse(config.next_cursor_path) if config.next_cursor_path else None
        self._from_record = (
            DottedPath.parse(config.cursor_from_last_record) if config.cursor_from_last_record else None
        )
        self._has_more = DottedPath.parse(config.has_more_path) if config.has_more_path else None

    @property
    def fingerprint(self) -> str:
        return "cursor"

    @property
    def settings(self) -> dict[str, str]:
        return {"paginator": "cursor"}

    def first_cursor(self) -> Cursor:
        return None

    def request_for(self, cursor: Cursor, template: PageRequest) -> PageRequest:
        params: dict[str, str] = {}
        if cursor is not None:
            params[self._config.cursor_param] = str(cursor)
        if self._config.limit_param and self._limit:
            params[self._config.limit_param] = str(self._limit)
        return template.with_params(**params)

    @override
    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        if not page.records:
            return None
        if self._has_more is not None and not read_flag(page, self._has_more):
            return None
        if self._next_cursor is not None:
            value = self._next_cursor.get(page.response.body)
            return None if value in (MISSING, None, "") else value
        assert self._from_record is not None  # config guarantees exactly one cursor source
        if self._has_more is None and self._limit and len(page.records) < self._limit:
            return None
        value = self._from_record.get(page.records[-1])
        if value in (MISSING, None, ""):
            raise PaginationError(
                f"the last record from {page.response.url} has no {self._from_record} "
                "(paginator cursor_from_last_record)",
                url=page.response.url,
            )
        return value

    @override
    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        return None  # only the answer names the next page

    @override
    def expected_total(self, page: Page) -> int | None:
        return None

    def describe(self, cursor: Cursor) -> str:
        return describe_opaque_cursor(cursor)

    @property
    def position_hint(self) -> str:
        source = (
            f"next_cursor_path: {self._config.next_cursor_path}"
            if self._config.next_cursor_path
            else f"cursor_from_last_record: {self._config.cursor_from_last_record}"
        )
        return f"are `cursor_param: {self._config.cursor_param}` and `{source}` right?"
