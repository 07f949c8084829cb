"""One paginator class per pagination style, chosen by `paginator.type` in the config, never guessed."""

from __future__ import annotations

from typing_extensions import override

from batchsync.config import (
    CursorPaginatorConfig,
    LinkHeaderPaginatorConfig,
    NextUrlPaginatorConfig,
    OffsetPaginatorConfig,
    PageNumberPaginatorConfig,
    PaginatorConfig,
)
from batchsync.models import Cursor, Page, PageRequest
from batchsync.sources.paginators.base import Paginator
from batchsync.sources.paginators.cursor import CursorPaginator
from batchsync.sources.paginators.link_header import LinkHeaderPaginator
from batchsync.sources.paginators.next_url import NextUrlPaginator
from batchsync.sources.paginators.offset import OffsetPaginator
from batchsync.sources.paginators.page_number import PageNumberPaginator


class SinglePagePaginator(Paginator):
    """No `paginator:` in the config: the endpoint answers the whole collection in one response."""

    is_positional = False

    @property
    def fingerprint(self) -> str:
        return "single"

    @property
    def settings(self) -> dict[str, str]:
        return {"paginator": "single page"}

    def first_cursor(self) -> Cursor:
        return None

    @override
    def request_for(self, cursor: Cursor, template: PageRequest) -> PageRequest:
        return template

    @override
    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        return None

    def expected_total(self, page: Page) -> int | None:
        return len(page.records)

    @override
    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        return None  # there is no next page

    @override
    def describe(self, cursor: Cursor) -> str:
        return "the only page"

    @property
    def position_hint(self) -> str:  # never asked: a single page cannot repeat the one before it
        return "does the API page its answers? Then configure a paginator"


def make_paginator(config: PaginatorConfig | None, page_size: int | None = None) -> Paginator:
    """The paginator for a source; `page_size` overrides the configured one (CLI `--batch-size`)."""
    match config:
        case None:
            return SinglePagePaginator()
        case OffsetPaginatorConfig():
            return OffsetPaginator(config, page_size)
        case PageNumberPaginatorConfig():
            return PageNumberPaginator(config, page_size)
        case CursorPaginatorConfig():
            return CursorPaginator(config, page_size)
        case LinkHeaderPaginatorConfig():
            return LinkHeaderPaginator(config, page_size)
        case NextUrlPaginatorConfig():
            return NextUrlPaginator(config, page_size)
    raise AssertionError(f"unhandled paginator config {type(config).__name__}")


__all__ = [
    "CursorPaginator",
    "LinkHeaderPaginator",
    "NextUrlPaginator",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "SinglePagePaginator",
    "make_paginator",
]
