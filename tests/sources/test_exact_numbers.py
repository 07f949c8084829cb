"""Paginators and watermarks read the exact numbers the JSON parser now gives (int of any size, Decimal):
totals, next links and watermark comparisons behave as they did with floats, and odd values are clear
PaginationErrors rather than crashes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from batchsync import jsontext
from batchsync.config import NextUrlPaginatorConfig, OffsetPaginatorConfig
from batchsync.errors import PaginationError
from batchsync.models import JsonResponse, Page
from batchsync.sources.incremental import later
from batchsync.sources.paginators import make_paginator


def page_from(body: bytes, url: str = "https://api.example.com/items?offset=0") -> Page:
    parsed = jsontext.parse(body)
    return Page(JsonResponse(url, 200, {}, parsed), parsed.get("items", []))


def test_a_fractional_watermark_from_the_api_compares_as_a_number_with_the_stored_float() -> None:
    sent = jsontext.parse(b"1700000000.5")
    assert isinstance(sent, Decimal)
    assert later(999999999.9, sent) == sent, "as text '999…' would sort after '1700…'"
    assert later(sent, 1800000000.0) == 1800000000.0


def test_a_total_written_as_a_decimal_is_read_as_a_whole_number() -> None:
    paginator = make_paginator(OffsetPaginatorConfig(type="offset", limit=2, total_path="total"))
    assert paginator.expected_total(page_from(b'{"total": 4.0, "items": [{"id": 1}]}')) == 4


def test_an_infinite_total_is_a_pagination_error_not_a_crash() -> None:
    paginator = make_paginator(OffsetPaginatorConfig(type="offset", limit=2, total_path="total"))
    with pytest.raises(PaginationError, match="total_path"):
        paginator.expected_total(page_from(b'{"total": Infinity, "items": [{"id": 1}]}'))


def test_a_next_link_no_url_parser_can_read_is_a_pagination_error() -> None:
    paginator = make_paginator(NextUrlPaginatorConfig(type="next_url", next_url_path="next"))
    with pytest.raises(PaginationError, match="not a valid URL"):
        paginator.next_cursor(page_from(b'{"next": "http://[::1", "items": [{"id": 1}]}'), None)
