"""`Link` header paging (GitHub, GitLab, Shopify): follow `<…>; rel="next"` (RFC 8288).

Reads, for example: `Link: <https://api.example.com/items?page=3>; rel="next", <…?page=9>; rel="last"`.
Stops when no `next` link is sent, and on an empty page. The cursor is the next URL itself.
"""

from __future__ import annotations

import re

from typing_extensions import override

from batchsync.config import LinkHeaderPaginatorConfig
from batchsync.models import Cursor, Page, PageRequest
from batchsync.sources.paginators.base import (
    Paginator,
    describe_url_cursor,
    next_page_url,
    request_for_url_cursor,
)

# <target> then any number of `; name` or `; name=token` or `; name="quoted, maybe with commas"`.
_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,=\s]+\s*(?:=\s*(?:"(?:[^"\\]|\\.)*"|[^;,]*))?)*)')
_REL = re.compile(r";\s*rel\s*=\s*(?:\"([^\"]*)\"|([^;,\s]*))", re.IGNORECASE)


def parse_link_header(value: str) -> dict[str, str]:
    """Map each relation type (`next`, `last`, …) to its target URL."""
    links: dict[str, str] = {}
    for match in _LINK.finditer(value):
        target, parameters = match.group(1), match.group(2)
        for rel_match in _REL.finditer(parameters):
            for relation in (rel_match.group(1) or rel_match.group(2) or "").split():
                links.setdefault(relation.lower(), target)
    return links


class LinkHeaderPaginator(Paginator):
    is_positional = True

    def __init__(self, config: LinkHeaderPaginatorConfig, page_size: int | None = None) -> None:
        self._config = config
        self._page_size = page_size or config.page_size

    @property
    def fingerprint(self) -> str:
        return "link_header"

    @property
    def settings(self) -> dict[str, str]:
        return {"paginator": "link_header"}

    def first_cursor(self) -> Cursor:
        return None

    def request_for(self, cursor: Cursor, template: PageRequest) -> PageRequest:
        return request_for_url_cursor(cursor, template, self._config.size_param, self._page_size)

    @override
    def next_cursor(self, page: Page, cursor: Cursor) -> Cursor | None:
        if not page.records:
            return None
        header = next((v for k, v in page.response.headers.items() if k.lower() == "link"), "")
        target = parse_link_header(header).get("next")
        return next_page_url(page.response.url, target) if target else None

    @override
    def cursor_after_full_page(self, cursor: Cursor, expected_total: int | None) -> Cursor | None:
        return None  # only the answer names the next page

    @override
    def expected_total(self, page: Page) -> int | None:
        return None

    def describe(self, cursor: Cursor) -> str:
        return describe_url_cursor(cursor, "the next link")

    @property
    def position_hint(self) -> str:
        return 'does the `rel="next"` link of the `Link` header lead to the next page?'
