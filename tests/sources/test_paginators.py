"""Example tests for each paginator: the requests it builds, the answers it reads, the errors it raises."""

from __future__ import annotations

import pytest

from batchsync.config import (
    CursorPaginatorConfig,
    LinkHeaderPaginatorConfig,
    NextUrlPaginatorConfig,
    OffsetPaginatorConfig,
    PageNumberPaginatorConfig,
    PaginatorConfig,
)
from batchsync.errors import PaginationError
from batchsync.models import JSONObject, JsonResponse, JSONValue, Page, PageRequest
from batchsync.sources.paginators import SinglePagePaginator, make_paginator
from batchsync.sources.paginators.link_header import parse_link_header

PAGE_URL = "https://api.example.com/v2/items?status=active&page=1"


def template() -> PageRequest:
    return PageRequest("/items", {"status": "active", "fields": "id,name"})


def page(
    body: JSONValue,
    records: list[JSONObject] | None = None,
    *,
    url: str = PAGE_URL,
    headers: dict[str, str] | None = None,
) -> Page:
    if records is None:
        records = [{"id": 1}, {"id": 2}]
    return Page(JsonResponse(url, 200, headers or {}, body), records)


def offset(**settings: object) -> OffsetPaginatorConfig:
    return OffsetPaginatorConfig.model_validate({"type": "offset", **settings})


def page_number(**settings: object) -> PageNumberPaginatorConfig:
    return PageNumberPaginatorConfig.model_validate({"type": "page_number", **settings})


def cursor(**settings: object) -> CursorPaginatorConfig:
    return CursorPaginatorConfig.model_validate({"type": "cursor", **settings})


def link_header(**settings: object) -> LinkHeaderPaginatorConfig:
    return LinkHeaderPaginatorConfig.model_validate({"type": "link_header", **settings})


def next_url(**settings: object) -> NextUrlPaginatorConfig:
    return NextUrlPaginatorConfig.model_validate({"type": "next_url", **settings})


# --- requests -----------------------------------------------------------------------------------------


def test_offset_request_adds_offset_and_limit_to_the_source_params() -> None:
    paginator = make_paginator(offset(offset_param="start", limit_param="count", limit=50))
    assert paginator.first_cursor() == 0
    request = paginator.request_for(200, template())
    assert request == PageRequest(
        "/items", {"status": "active", "fields": "id,name", "start": "200", "count": "50"}
    )


def test_page_number_request_adds_page_and_size_to_the_source_params() -> None:
    paginator = make_paginator(page_number(page_size=200))
    assert paginator.first_cursor() == 1
    request = paginator.request_for(3, template())
    assert request == PageRequest(
        "/items", {"status": "active", "fields": "id,name", "page": "3", "per_page": "200"}
    )


def test_page_number_without_size_param_sends_only_the_page() -> None:
    paginator = make_paginator(page_number(page_param="p", size_param=None, start=0))
    assert paginator.first_cursor() == 0
    assert paginator.request_for(0, template()).params == {"status": "active", "fields": "id,name", "p": "0"}


def test_cursor_request_sends_no_cursor_on_the_first_page_and_the_cursor_after() -> None:
    paginator = make_paginator(
        cursor(cursor_param="starting_after", cursor_from_last_record="id", limit_param="limit", limit=100)
    )
    first = paginator.first_cursor()
    assert paginator.request_for(first, template()).params == {
        "status": "active",
        "fields": "id,name",
        "limit": "100",
    }
    assert paginator.request_for("obj_42", template()).params == {
        "status": "active",
        "fields": "id,name",
        "starting_after": "obj_42",
        "limit": "100",
    }


def test_cursor_request_without_a_limit_sends_only_the_cursor() -> None:
    paginator = make_paginator(cursor(cursor_param="cursor", next_cursor_path="next"))
    assert paginator.request_for(None, template()) == template()
    assert paginator.request_for("abc", template()).params == {
        "status": "active",
        "fields": "id,name",
        "cursor": "abc",
    }


@pytest.mark.parametrize(
    "config",
    [
        link_header(size_param="per_page", page_size=30),
        next_url(next_url_path="next", size_param="per_page", page_size=30),
    ],
)
def test_url_following_paginators_ask_the_first_page_with_the_source_params_and_size(
    config: PaginatorConfig,
) -> None:
    paginator = make_paginator(config)
    first = paginator.request_for(paginator.first_cursor(), template())
    assert first == PageRequest("/items", {"status": "active", "fields": "id,name", "per_page": "30"})


@pytest.mark.parametrize(
    "config",
    [
        link_header(size_param="per_page", page_size=30),
        next_url(next_url_path="next", size_param="per_page", page_size=30),
    ],
)
def test_url_following_paginators_fetch_the_next_url_exactly_as_given(config: PaginatorConfig) -> None:
    paginator = make_paginator(config)
    target = "https://api.example.com/v2/items?status=active&fields=id%2Cname&per_page=30&page=2"
    assert paginator.request_for(target, template()) == PageRequest(target)


@pytest.mark.parametrize("config", [link_header(), next_url(next_url_path="next")])
def test_url_following_paginators_without_size_send_the_template_unchanged(config: PaginatorConfig) -> None:
    paginator = make_paginator(config)
    assert paginator.request_for(paginator.first_cursor(), template()) == template()


ALL_STYLES = [
    (offset(limit=10, has_more_path="more"), 20),
    (page_number(page_size=10, total_pages_path="pages"), 3),
    (cursor(cursor_param="after", next_cursor_path="next", limit_param="limit", limit=10), "abc"),
    (cursor(cursor_param="after", cursor_from_last_record="id"), "obj_9"),
    (link_header(size_param="per_page", page_size=10), "https://api.example.com/v2/items?page=2"),
    (next_url(next_url_path="next", size_param="per_page", page_size=10), "/v2/items?page=2"),
]


@pytest.mark.parametrize(("config", "later_cursor"), ALL_STYLES, ids=lambda value: getattr(value, "type", ""))
def test_building_requests_never_changes_the_template(
    config: PaginatorConfig, later_cursor: JSONValue
) -> None:
    params = {"status": "active"}
    original = PageRequest("/items", params)
    paginator = make_paginator(config)
    for position in (paginator.first_cursor(), later_cursor):
        paginator.request_for(position, original)
    assert params == {"status": "active"}
    assert original == PageRequest("/items", {"status": "active"})


@pytest.mark.parametrize(
    ("config", "setting"),
    [
        (offset(limit=100), "limit"),
        (page_number(page_size=100), "per_page"),
        (cursor(cursor_param="after", next_cursor_path="next", limit_param="limit", limit=100), "limit"),
        (link_header(size_param="per_page", page_size=100), "per_page"),
        (next_url(next_url_path="next", size_param="per_page", page_size=100), "per_page"),
    ],
    ids=lambda value: getattr(value, "type", value),
)
def test_batch_size_overrides_the_configured_page_size(config: PaginatorConfig, setting: str) -> None:
    paginator = make_paginator(config, page_size=25)
    assert paginator.request_for(paginator.first_cursor(), template()).params[setting] == "25"


def test_single_page_paginator_sends_the_template_and_stops_after_one_page() -> None:
    paginator = make_paginator(None)
    assert isinstance(paginator, SinglePagePaginator)
    assert paginator.request_for(paginator.first_cursor(), template()) == template()
    answer = page({"items": [{"id": 1}, {"id": 2}, {"id": 3}]}, [{"id": 1}, {"id": 2}, {"id": 3}])
    assert paginator.next_cursor(answer, None) is None
    assert paginator.expected_total(answer) == 3


# --- reading answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "has_more"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("True", True),
        ("FALSE", False),
        (" true ", True),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("no", False),
        (1, True),
        (0, False),
    ],
)
def test_has_more_flags_may_be_booleans_or_their_text(flag: JSONValue, has_more: bool) -> None:
    answer = page({"items": [{"id": 1}, {"id": 2}], "meta": {"more": flag}})
    offset_next = make_paginator(offset(limit=2, has_more_path="meta.more")).next_cursor(answer, 10)
    page_next = make_paginator(page_number(page_size=2, has_more_path="meta.more")).next_cursor(answer, 4)
    cursor_next = make_paginator(
        cursor(cursor_param="after", cursor_from_last_record="id", has_more_path="meta.more")
    ).next_cursor(answer, None)
    assert (offset_next, page_next, cursor_next) == ((12, 5, 2) if has_more else (None, None, None))


@pytest.mark.parametrize(
    "config",
    [
        offset(has_more_path="meta.has_more"),
        page_number(has_more_path="meta.has_more"),
        cursor(cursor_param="after", cursor_from_last_record="id", has_more_path="meta.has_more"),
        cursor(cursor_param="after", next_cursor_path="next", has_more_path="meta.has_more"),
    ],
    ids=["offset", "page_number", "cursor_from_last_record", "next_cursor_path"],
)
def test_a_has_more_flag_missing_from_the_answer_is_an_error_not_a_stop(config: PaginatorConfig) -> None:
    paginator = make_paginator(config)
    with pytest.raises(PaginationError, match=r"meta\.has_more") as raised:
        paginator.next_cursor(page({"items": [{"id": 1}], "meta": {}}), paginator.first_cursor())
    assert raised.value.url == PAGE_URL


@pytest.mark.parametrize(
    "config",
    [
        offset(has_more_path="more"),
        offset(total_path="total"),
        offset(),
        page_number(has_more_path="more"),
        page_number(total_pages_path="pages"),
        page_number(),
        cursor(cursor_param="after", next_cursor_path="next"),
        cursor(cursor_param="after", cursor_from_last_record="id"),
        link_header(),
        next_url(next_url_path="next"),
    ],
    ids=lambda config: config.type,
)
def test_an_empty_page_always_ends_the_walk_whatever_the_answer_claims(config: PaginatorConfig) -> None:
    body = {"items": [], "more": True, "total": 10_000, "pages": 99, "next": "https://api.example.com/x"}
    answer = page(body, [], headers={"link": '<https://api.example.com/x>; rel="next"'})
    paginator = make_paginator(config)
    assert paginator.next_cursor(answer, paginator.first_cursor()) is None


def test_offset_advances_by_the_records_served_when_the_api_caps_the_limit() -> None:
    paginator = make_paginator(offset(limit=100, has_more_path="hasMore"))
    served = [{"id": n} for n in range(50)]
    assert paginator.next_cursor(page({"items": served, "hasMore": True}, served), 200) == 250


def test_offset_total_says_when_every_record_was_served() -> None:
    paginator = make_paginator(offset(limit=2, total_path="meta.total"))
    assert paginator.next_cursor(page({"meta": {"total": 5}}), 2) == 4
    assert paginator.next_cursor(page({"meta": {"total": 4}}), 2) is None
    assert paginator.expected_total(page({"meta": {"total": "1234"}})) == 1234


def test_offset_has_more_fails_once_the_pass_is_past_twice_the_total_plus_a_page() -> None:
    paginator = make_paginator(
        offset(limit=2, has_more_path="more", offset_param="start", total_path="total")
    )
    answer = page({"more": True, "total": 5})  # two records a page
    assert paginator.next_cursor(answer, 10) == 12  # 2 × 5 + 2: totals drift a little, so still going
    with pytest.raises(PaginationError, match=r"holds 5 records .* has read 13 .*`offset_param: start`"):
        paginator.next_cursor(answer, 11)


def test_offset_total_that_is_not_a_number_is_a_pagination_error() -> None:
    paginator = make_paginator(offset(total_path="meta.total"))
    with pytest.raises(PaginationError, match=r"meta\.total.*total_path"):
        paginator.next_cursor(page({"meta": {"total": "many"}}), 0)


@pytest.mark.parametrize("start", [0, 1])
def test_page_number_has_more_fails_once_the_pass_is_past_twice_the_page_count_plus_one(start: int) -> None:
    paginator = make_paginator(
        page_number(page_size=2, start=start, page_param="p", has_more_path="more", total_pages_path="pages")
    )
    answer = page({"more": True, "pages": 3})
    assert paginator.next_cursor(answer, start + 6) == start + 7  # 7 pages read: 2 × 3 + 1
    with pytest.raises(PaginationError, match=r"has 3 pages .* has read 8 .*`page_param: p`"):
        paginator.next_cursor(answer, start + 7)


def test_page_number_total_pages_counts_from_the_configured_start() -> None:
    from_zero = make_paginator(page_number(page_size=2, start=0, total_pages_path="pages"))
    from_one = make_paginator(page_number(page_size=2, start=1, total_pages_path="pages"))
    answer = page({"pages": 3})
    assert (from_zero.next_cursor(answer, 1), from_zero.next_cursor(answer, 2)) == (2, None)
    assert (from_one.next_cursor(answer, 2), from_one.next_cursor(answer, 3)) == (3, None)
    assert from_one.expected_total(answer) == 6


def test_page_number_fingerprint_changes_with_page_size_and_start() -> None:
    config = page_number(page_size=100)
    fingerprints = {
        make_paginator(config).fingerprint,
        make_paginator(config, page_size=50).fingerprint,
        make_paginator(page_number(page_size=100, start=0)).fingerprint,
    }
    assert len(fingerprints) == 3
    assert make_paginator(config).fingerprint == make_paginator(page_number(page_size=100)).fingerprint
    assert make_paginator(config, page_size=100).fingerprint == make_paginator(config).fingerprint


def test_batch_size_override_sets_the_short_page_threshold_where_the_size_is_sent() -> None:
    paginator = make_paginator(page_number(page_size=100), page_size=25)
    full = [{"id": n} for n in range(25)]
    assert paginator.next_cursor(page({}, full), 1) == 2
    assert paginator.next_cursor(page({}, full[:24]), 2) is None


def test_batch_size_override_is_no_short_page_signal_when_the_page_size_is_not_sent() -> None:
    # The API pages 10 at a time by itself; --batch-size 50 cannot change that since no size is sent,
    # so a page of 10 must not read as "short".
    paginator = make_paginator(
        cursor(cursor_param="starting_after", cursor_from_last_record="id"), page_size=50
    )
    assert "limit" not in paginator.request_for(None, template()).params
    records = [{"id": f"obj_{n}"} for n in range(10)]
    assert paginator.next_cursor(page({"data": records}, records), None) == "obj_9"


def test_page_number_batch_size_override_is_ignored_when_no_size_param_is_sent() -> None:
    # page_size says how many records the API serves per page (it is not sent: size_param is null).
    paginator = make_paginator(page_number(size_param=None, page_size=25), page_size=100)
    assert set(paginator.request_for(1, template()).params) == {"status", "fields", "page"}
    records = [{"id": n} for n in range(25)]
    assert paginator.next_cursor(page({"items": records}, records), 1) == 2


def test_cursor_next_cursor_path_stops_when_the_cursor_is_absent_null_or_empty() -> None:
    paginator = make_paginator(cursor(cursor_param="cursor", next_cursor_path="meta.next"))
    assert paginator.next_cursor(page({"meta": {"next": "eyJvIjogMn0"}}), None) == "eyJvIjogMn0"
    assert paginator.next_cursor(page({"meta": {"next": 0}}), None) == 0
    for body in ({"meta": {}}, {"meta": {"next": None}}, {"meta": {"next": ""}}, {}):
        assert paginator.next_cursor(page(body), "x") is None


def test_cursor_with_has_more_false_stops_even_when_a_cursor_is_sent() -> None:
    paginator = make_paginator(cursor(cursor_param="cursor", next_cursor_path="next", has_more_path="more"))
    assert paginator.next_cursor(page({"next": "abc", "more": False}), None) is None
    assert paginator.next_cursor(page({"next": "abc", "more": True}), None) == "abc"


def test_cursor_from_last_record_reads_the_last_record_of_the_page() -> None:
    paginator = make_paginator(
        cursor(cursor_param="starting_after", cursor_from_last_record="meta.id", has_more_path="has_more")
    )
    records = [{"meta": {"id": "a"}}, {"meta": {"id": "b"}}]
    assert paginator.next_cursor(page({"has_more": True}, records), None) == "b"


def test_cursor_from_last_record_without_the_field_is_a_pagination_error() -> None:
    paginator = make_paginator(
        cursor(cursor_param="starting_after", cursor_from_last_record="id", has_more_path="has_more")
    )
    with pytest.raises(PaginationError, match="cursor_from_last_record"):
        paginator.next_cursor(page({"has_more": True}, [{"id": "a"}, {"name": "no id"}]), None)


def test_cursor_from_last_record_with_limit_stops_on_a_short_page_only() -> None:
    paginator = make_paginator(
        cursor(cursor_param="starting_after", cursor_from_last_record="id", limit_param="limit", limit=2)
    )
    assert paginator.next_cursor(page({}, [{"id": "a"}, {"id": "b"}]), None) == "b"
    assert paginator.next_cursor(page({}, [{"id": "c"}]), "b") is None


# --- link header --------------------------------------------------------------------------------------


def test_parse_link_header_maps_every_relation_to_its_url() -> None:
    header = (
        '<https://api.github.com/repositories/1/issues?page=3>; rel="next", '
        '<https://api.github.com/repositories/1/issues?page=9>; rel="last", '
        '<https://api.github.com/repositories/1/issues?page=1>; rel="first", '
        '<https://api.github.com/repositories/1/issues?page=1>; rel="prev"'
    )
    assert parse_link_header(header) == {
        "next": "https://api.github.com/repositories/1/issues?page=3",
        "last": "https://api.github.com/repositories/1/issues?page=9",
        "first": "https://api.github.com/repositories/1/issues?page=1",
        "prev": "https://api.github.com/repositories/1/issues?page=1",
    }


def test_parse_link_header_accepts_unquoted_and_oddly_spaced_relations() -> None:
    header = "</items?page=2>;rel=next,</items?page=1> ;  REL = prev"
    assert parse_link_header(header) == {"next": "/items?page=2", "prev": "/items?page=1"}


def test_parse_link_header_splits_a_relation_list() -> None:
    header = '<https://x.test/items?page=2>; rel="next last", <https://x.test/items?page=1>; rel="prev first"'
    assert parse_link_header(header) == {
        "next": "https://x.test/items?page=2",
        "last": "https://x.test/items?page=2",
        "prev": "https://x.test/items?page=1",
        "first": "https://x.test/items?page=1",
    }


def test_parse_link_header_keeps_urls_with_commas_and_semicolons() -> None:
    header = '<https://x.test/items?fields=a,b;c&page=2>; rel="next"'
    assert parse_link_header(header) == {"next": "https://x.test/items?fields=a,b;c&page=2"}


def test_parse_link_header_finds_rel_after_a_quoted_parameter_holding_a_comma() -> None:
    # RFC 8288: a link-param value may be a quoted-string, and a quoted-string may contain a comma.
    header = '<https://x.test/items?page=2>; title="Items, page 2"; rel="next"'
    assert parse_link_header(header) == {"next": "https://x.test/items?page=2"}


def test_parse_link_header_without_next_has_no_next() -> None:
    assert "next" not in parse_link_header('<https://x.test/items?page=1>; rel="prev"')
    assert parse_link_header("") == {}


def test_link_header_paginator_follows_next_and_stops_without_it() -> None:
    paginator = make_paginator(link_header())
    with_next = page(
        {}, headers={"link": '<https://x.test/i?page=1>; rel="prev", <https://x.test/i?page=3>; rel="next"'}
    )
    without_next = page({}, headers={"link": '<https://x.test/i?page=1>; rel="first"'})
    assert paginator.next_cursor(with_next, None) == "https://x.test/i?page=3"
    assert paginator.next_cursor(without_next, "https://x.test/i?page=3") is None
    assert paginator.next_cursor(page({}), None) is None


def test_link_header_is_found_whatever_the_case_of_its_name() -> None:
    # HTTP header names are case-insensitive; servers send "Link".
    paginator = make_paginator(link_header())
    answer = page({}, headers={"Link": '<https://x.test/i?page=2>; rel="next"'})
    assert paginator.next_cursor(answer, None) == "https://x.test/i?page=2"


@pytest.mark.parametrize(
    ("target", "resolved"),
    [
        ("?page=2", "https://api.example.com/v2/archive/items?page=2"),
        ("items?page=2", "https://api.example.com/v2/archive/items?page=2"),
        ("../items?page=2", "https://api.example.com/v2/items?page=2"),
        ("/v3/items?page=2", "https://api.example.com/v3/items?page=2"),
        ("https://other.example.com/items?page=2", "https://other.example.com/items?page=2"),
    ],
)
def test_relative_next_urls_resolve_against_the_page_url_not_the_base(target: str, resolved: str) -> None:
    # The source's base URL would be https://api.example.com/v2; the page came from a deeper path.
    page_url = "https://api.example.com/v2/archive/items?page=1"
    from_body = make_paginator(next_url(next_url_path="links.next"))
    from_header = make_paginator(link_header())
    body_page = page({"links": {"next": target}}, url=page_url)
    header_page = page({}, url=page_url, headers={"link": f'<{target}>; rel="next"'})
    assert from_body.next_cursor(body_page, None) == resolved
    assert from_header.next_cursor(header_page, None) == resolved


@pytest.mark.parametrize("body", [{}, {"next": None}, {"next": ""}, {"next": 5}, {"next": {"href": "/x"}}])
def test_next_url_stops_when_there_is_no_url(body: JSONObject) -> None:
    assert make_paginator(next_url(next_url_path="next")).next_cursor(page(body), None) is None


@pytest.mark.parametrize(
    "config",
    [config for config, _ in ALL_STYLES if config.type != "page_number"] + [offset(), page_number()],
    ids=lambda config: config.type,
)
def test_paginators_expect_no_total_unless_the_api_gives_one(config: PaginatorConfig) -> None:
    assert make_paginator(config).expected_total(page({"more": True, "pages": 3})) is None
