"""The paginator law: for any collection and page size, walking first_cursor → request_for → next_cursor
until None yields every record exactly once, in order, with exactly the requests the style needs.

Each test answers the paginator's requests from a small API simulated in pure Python, in the shape the
paginator reads, including the awkward exact multiple where the last full page is followed by nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from batchsync.config import (
    CursorPaginatorConfig,
    LinkHeaderPaginatorConfig,
    NextUrlPaginatorConfig,
    OffsetPaginatorConfig,
    PageNumberPaginatorConfig,
)
from batchsync.models import JSONObject, JsonResponse, JSONValue, Page, PageRequest
from batchsync.sources.paginators import Paginator, make_paginator

BASE_URL = "https://api.example.com/v2"
COLLECTION_PATH = "/v2/items"
TEMPLATE = PageRequest("/items", {"status": "active"})
MAX_RECORDS = 2000
MAX_PAGE_SIZE = 300

LAW = settings(max_examples=100, deadline=None)

Api = Callable[[PageRequest], Page]


# --- the simulated API --------------------------------------------------------------------------------


def receive(request: PageRequest) -> tuple[str, dict[str, str]]:
    """The URL and query the API sees, as HttpClient sends them (a relative path goes under the base)."""
    url = request.url if request.url.startswith(("http://", "https://")) else BASE_URL + request.url
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.example.com", COLLECTION_PATH), url
    query = dict(parse_qsl(parts.query))
    query.update(request.params)
    # The source's own params must reach the API on every request, whatever the paginator adds.
    assert query.get("status") == "active", f"the template's params were lost: {url} {query}"
    return f"https://api.example.com{COLLECTION_PATH}?{urlencode(query)}", query


def answer(
    url: str, body: JSONObject, records: list[JSONObject], headers: dict[str, str] | None = None
) -> Page:
    return Page(JsonResponse(url, 200, httpx.Headers(headers or {}), body), records)


def collection(size: int) -> list[JSONObject]:
    return [{"id": index, "name": f"item {index}"} for index in range(size)]


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def offset_api(records: list[JSONObject]) -> Api:
    """`?offset=&limit=` → `{"items": [...], "hasMore": bool, "totalResults": int}` (Oracle)."""

    def serve(request: PageRequest) -> Page:
        url, query = receive(request)
        offset, limit = int(query["offset"]), int(query["limit"])
        batch = records[offset : offset + limit]
        body = {
            "items": batch,
            "hasMore": offset + len(batch) < len(records),
            "totalResults": len(records),
        }
        return answer(url, body, batch)

    return serve


def page_number_api(records: list[JSONObject], start: int) -> Api:
    """`?page=&per_page=` → `{"items": [...], "page_context": {"has_more_page": …, "total_pages": …}}`."""

    def serve(request: PageRequest) -> Page:
        url, query = receive(request)
        index, size = int(query["page"]) - start, int(query["per_page"])
        assert index >= 0, f"asked for page {query['page']} before the first page {start}"
        batch = records[index * size : (index + 1) * size]
        context = {
            "page": int(query["page"]),
            "has_more_page": (index + 1) * size < len(records),
            "total_pages": ceil_div(len(records), size),
        }
        return answer(url, {"items": batch, "page_context": context}, batch)

    return serve


def opaque(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def token_api(records: list[JSONObject], *, cursor_on_last_page: bool, stop_value: JSONValue) -> Api:
    """`?cursor=&limit=` → `{"items": [...], "meta": {"next_cursor": "…"}}`; on the last page the cursor is
    `stop_value` (null or empty), or absent when that is the sentinel "absent", or (some APIs) still sent."""

    def serve(request: PageRequest) -> Page:
        url, query = receive(request)
        offset = int(base64.urlsafe_b64decode(query["cursor"]).decode()[2:]) if "cursor" in query else 0
        batch = records[offset : offset + int(query["limit"])]
        end = offset + len(batch)
        meta: JSONObject = {}
        if end < len(records) or (cursor_on_last_page and batch):
            meta["next_cursor"] = opaque(end)
        elif stop_value != "absent":
            meta["next_cursor"] = stop_value
        return answer(url, {"items": batch, "meta": meta}, batch)

    return serve


def starting_after_api(records: list[JSONObject], default_limit: int) -> Api:
    """Stripe: `?starting_after=<id>&limit=` → `{"data": [...], "has_more": bool}`."""

    def serve(request: PageRequest) -> Page:
        url, query = receive(request)
        first = int(query["starting_after"]) + 1 if "starting_after" in query else 0
        limit = int(query.get("limit", default_limit))
        batch = records[first : first + limit]
        return answer(url, {"data": batch, "has_more": first + len(batch) < len(records)}, batch)

    return serve


def link_header_api(records: list[JSONObject], *, link_form: str) -> Api:
    """`?page=&per_page=` → records, with `Link: <…>; rel="next", <…>; rel="last"` (GitHub)."""

    def link_to(query: dict[str, str], page: int) -> str:
        text = urlencode({**query, "page": str(page)})
        return {
            "absolute": f"https://api.example.com{COLLECTION_PATH}?{text}",
            "absolute_path": f"{COLLECTION_PATH}?{text}",
            "relative_path": f"items?{text}",  # resolved against the page's URL: /v2/items
        }[link_form]

    def serve(request: PageRequest) -> Page:
        url, query = receive(request)
        page, size = int(query.get("page", "1")), int(query["per_page"])
        batch = records[(page - 1) * size : page * size]
        last = max(ceil_div(len(records), size), 1)
        links = [f'<{link_to(query, 1)}>; rel="first"']
        if page > 1:
            links.append(f"<{link_to(query, page - 1)}>; rel=prev")
        if page < last:
            # A relation list with several values, as RFC 8288 allows, when next is also last.
            relation = '"next last"' if page + 1 == last else '"next"'
            links.append(f"<{link_to(query, page + 1)}>; rel={relation}")
        if page + 1 != last:
            links.append(f'<{link_to(query, last)}>; rel="last"')
        return answer(url, {"items": batch}, batch, {"Link": ", ".join(links)})

    return serve


def next_url_api(records: list[JSONObject], *, url_form: str, stop_value: JSONValue) -> Api:
    """`?page=&per_page=` → `{"items": [...], "links": {"next": "<url>"}}` (HAL, JSON:API, Salesforce)."""

    def next_link(query: dict[str, str], page: int) -> str:
        text = urlencode({**query, "page": str(page)})
        return {
            "absolute": f"https://api.example.com{COLLECTION_PATH}?{text}",
            "absolute_path": f"{COLLECTION_PATH}?{text}",
            "relative_path": f"items?{text}",  # resolved against the page's URL: /v2/items
            "query_only": f"?{text}",
        }[url_form]

    def serve(request: PageRequest) -> Page:
        url, query = receive(request)
        page, size = int(query.get("page", "1")), int(query["per_page"])
        batch = records[(page - 1) * size : page * size]
        links: JSONObject = {}
        if page * size < len(records):
            links["next"] = next_link(query, page + 1)
        elif stop_value != "absent":
            links["next"] = stop_value
        return answer(url, {"items": batch, "links": links}, batch)

    return serve


# --- walking ------------------------------------------------------------------------------------------


def walk(paginator: Paginator, api: Api, max_requests: int) -> tuple[list[JSONObject], int]:
    """Every record the walk yields and how many requests it sent; fails rather than loop forever."""
    records: list[JSONObject] = []
    cursor = paginator.first_cursor()
    for requests in range(1, max_requests + 1):
        page = api(paginator.request_for(cursor, TEMPLATE))
        records.extend(page.records)
        cursor = paginator.next_cursor(page, cursor)
        if cursor is None:
            return records, requests
    raise AssertionError(f"the walk did not stop within {max_requests} requests")


def ids(records: list[JSONObject]) -> list[int]:
    return [record["id"] for record in records]


@st.composite
def collections_and_page_sizes(draw: st.DrawFn) -> tuple[int, int]:
    """(record count, page size), with exact multiples of the page size drawn often, not by luck."""
    page_size = draw(st.integers(1, MAX_PAGE_SIZE))
    full_pages = draw(st.integers(0, MAX_RECORDS // page_size))
    remainder = draw(st.one_of(st.just(0), st.integers(0, page_size - 1)))
    return min(full_pages * page_size + remainder, MAX_RECORDS), page_size


def pages_when_told(count: int, page_size: int) -> int:
    """Requests for a style the API tells when to stop: one per page, and one for an empty collection."""
    return max(ceil_div(count, page_size), 1)


def pages_when_short(count: int, page_size: int) -> int:
    """Requests for a style that stops on a short page: an extra empty page when the count is a multiple."""
    return count // page_size + 1


EDGES = [(0, 1), (1, 1), (7, 7), (8, 7), (MAX_RECORDS, 200), (MAX_RECORDS, MAX_PAGE_SIZE), (299, 300)]


def with_edges(*other_arguments: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Always try the empty collection, one-record pages, exact multiples and the largest sizes."""

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        for count, page_size in EDGES:
            test = example((count, page_size), *other_arguments)(test)
        return test

    return decorate


# --- offset -------------------------------------------------------------------------------------------


@LAW
@given(collections_and_page_sizes())
@with_edges()
def test_offset_with_has_more_yields_every_record_once(shape: tuple[int, int]) -> None:
    count, limit = shape
    paginator = make_paginator(OffsetPaginatorConfig(type="offset", limit=limit, has_more_path="hasMore"))
    records, requests = walk(paginator, offset_api(collection(count)), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, limit)


@LAW
@given(collections_and_page_sizes())
@with_edges()
def test_offset_with_total_yields_every_record_once(shape: tuple[int, int]) -> None:
    count, limit = shape
    paginator = make_paginator(OffsetPaginatorConfig(type="offset", limit=limit, total_path="totalResults"))
    records, requests = walk(paginator, offset_api(collection(count)), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, limit)


@LAW
@given(collections_and_page_sizes())
@with_edges()
def test_offset_with_has_more_and_total_yields_every_record_once(shape: tuple[int, int]) -> None:
    """The total then bounds the pass (past twice the total it fails): an honest API never reaches it."""
    count, limit = shape
    config = OffsetPaginatorConfig(
        type="offset", limit=limit, has_more_path="hasMore", total_path="totalResults"
    )
    records, requests = walk(make_paginator(config), offset_api(collection(count)), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, limit)


@LAW
@given(collections_and_page_sizes())
@with_edges()
def test_offset_without_signals_stops_on_a_short_page(shape: tuple[int, int]) -> None:
    count, limit = shape
    paginator = make_paginator(OffsetPaginatorConfig(type="offset", limit=limit))
    records, requests = walk(paginator, offset_api(collection(count)), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_short(count, limit)


# --- page number --------------------------------------------------------------------------------------


@LAW
@given(collections_and_page_sizes(), st.sampled_from([0, 1]))
@with_edges(1)
@with_edges(0)
def test_page_number_with_has_more_yields_every_record_once(shape: tuple[int, int], start: int) -> None:
    count, size = shape
    config = PageNumberPaginatorConfig(
        type="page_number", page_size=size, start=start, has_more_path="page_context.has_more_page"
    )
    records, requests = walk(make_paginator(config), page_number_api(collection(count), start), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, size)


@LAW
@given(collections_and_page_sizes(), st.sampled_from([0, 1]))
@with_edges(1)
@with_edges(0)
def test_page_number_with_total_pages_yields_every_record_once(shape: tuple[int, int], start: int) -> None:
    count, size = shape
    config = PageNumberPaginatorConfig(
        type="page_number", page_size=size, start=start, total_pages_path="page_context.total_pages"
    )
    records, requests = walk(make_paginator(config), page_number_api(collection(count), start), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, size)


@LAW
@given(collections_and_page_sizes(), st.sampled_from([0, 1]))
@with_edges(1)
@with_edges(0)
def test_page_number_with_has_more_and_total_pages_yields_every_record_once(
    shape: tuple[int, int], start: int
) -> None:
    count, size = shape
    config = PageNumberPaginatorConfig(
        type="page_number",
        page_size=size,
        start=start,
        has_more_path="page_context.has_more_page",
        total_pages_path="page_context.total_pages",
    )
    records, requests = walk(make_paginator(config), page_number_api(collection(count), start), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, size)


@LAW
@given(collections_and_page_sizes(), st.sampled_from([0, 1]))
@with_edges(1)
@with_edges(0)
def test_page_number_without_signals_stops_on_a_short_page(shape: tuple[int, int], start: int) -> None:
    count, size = shape
    config = PageNumberPaginatorConfig(type="page_number", page_size=size, start=start)
    records, requests = walk(make_paginator(config), page_number_api(collection(count), start), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_short(count, size)


# --- cursor -------------------------------------------------------------------------------------------


@LAW
@given(collections_and_page_sizes(), st.sampled_from([None, "", "absent"]), st.booleans())
@with_edges(None, True)
@with_edges("absent", False)
def test_cursor_from_the_answer_yields_every_record_once(
    shape: tuple[int, int], stop_value: JSONValue, cursor_on_last_page: bool
) -> None:
    count, limit = shape
    config = CursorPaginatorConfig(
        type="cursor",
        cursor_param="cursor",
        next_cursor_path="meta.next_cursor",
        limit_param="limit",
        limit=limit,
    )
    api = token_api(collection(count), cursor_on_last_page=cursor_on_last_page, stop_value=stop_value)
    records, requests = walk(make_paginator(config), api, count + 2)
    assert ids(records) == list(range(count))
    # An API that still sends a cursor after its last page costs one empty page, and only that.
    expected = pages_when_told(count, limit) + (1 if cursor_on_last_page and count else 0)
    assert requests == expected


@LAW
@given(collections_and_page_sizes(), st.booleans())
@with_edges(True)
@with_edges(False)
def test_cursor_from_last_record_with_has_more_yields_every_record_once(
    shape: tuple[int, int], sends_limit: bool
) -> None:
    count, limit = shape
    config = CursorPaginatorConfig(
        type="cursor",
        cursor_param="starting_after",
        cursor_from_last_record="id",
        has_more_path="has_more",
        limit_param="limit" if sends_limit else None,
        limit=limit if sends_limit else None,
    )
    # Without a limit in the request the API serves its own default page size.
    records, requests = walk(make_paginator(config), starting_after_api(collection(count), limit), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, limit)


@LAW
@given(collections_and_page_sizes())
@with_edges()
def test_cursor_from_last_record_with_limit_stops_on_a_short_page(shape: tuple[int, int]) -> None:
    count, limit = shape
    config = CursorPaginatorConfig(
        type="cursor",
        cursor_param="starting_after",
        cursor_from_last_record="id",
        limit_param="limit",
        limit=limit,
    )
    records, requests = walk(make_paginator(config), starting_after_api(collection(count), 10), count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_short(count, limit)


# --- link header and next URL -------------------------------------------------------------------------


@LAW
@given(collections_and_page_sizes(), st.sampled_from(["absolute", "absolute_path", "relative_path"]))
@with_edges("relative_path")
def test_link_header_yields_every_record_once(shape: tuple[int, int], link_form: str) -> None:
    count, size = shape
    config = LinkHeaderPaginatorConfig(type="link_header", size_param="per_page", page_size=size)
    api = link_header_api(collection(count), link_form=link_form)
    records, requests = walk(make_paginator(config), api, count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, size)


@LAW
@given(
    collections_and_page_sizes(),
    st.sampled_from(["absolute", "absolute_path", "relative_path", "query_only"]),
    st.sampled_from([None, "", "absent"]),
)
@with_edges("relative_path", None)
@with_edges("query_only", "absent")
def test_next_url_yields_every_record_once(
    shape: tuple[int, int], url_form: str, stop_value: JSONValue
) -> None:
    count, size = shape
    config = NextUrlPaginatorConfig(
        type="next_url", next_url_path="links.next", size_param="per_page", page_size=size
    )
    api = next_url_api(collection(count), url_form=url_form, stop_value=stop_value)
    records, requests = walk(make_paginator(config), api, count + 2)
    assert ids(records) == list(range(count))
    assert requests == pages_when_told(count, size)


# --- an API whose totals and flags lie ----------------------------------------------------------------


def lying(api: Api, data: st.DataObject) -> Api:
    """The same records, but every page's has-more flags and totals are whatever Hypothesis draws."""

    def serve(request: PageRequest) -> Page:
        page = api(request)
        body = dict(page.response.body)
        body["hasMore"] = body["has_more"] = data.draw(st.sampled_from([True, False, "true", "false"]))
        body["totalResults"] = data.draw(st.integers(0, 10 * MAX_RECORDS))
        body["page_context"] = {
            "has_more_page": data.draw(st.booleans()),
            "total_pages": data.draw(st.integers(0, 10 * MAX_RECORDS)),
        }
        response = page.response
        return Page(JsonResponse(response.url, response.status, response.headers, body), page.records)

    return serve


LYING_PAGINATORS = {
    "offset has_more": (OffsetPaginatorConfig(type="offset", limit=1, has_more_path="hasMore"), "offset"),
    "offset total": (OffsetPaginatorConfig(type="offset", limit=1, total_path="totalResults"), "offset"),
    "page has_more": (
        PageNumberPaginatorConfig(
            type="page_number", page_size=1, has_more_path="page_context.has_more_page"
        ),
        "page",
    ),
    "page total": (
        PageNumberPaginatorConfig(
            type="page_number", page_size=1, total_pages_path="page_context.total_pages"
        ),
        "page",
    ),
    "last record has_more": (
        CursorPaginatorConfig(
            type="cursor",
            cursor_param="starting_after",
            cursor_from_last_record="id",
            has_more_path="has_more",
            limit_param="limit",
            limit=1,
        ),
        "stripe",
    ),
}


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 300),
    st.integers(1, 50),
    st.sampled_from(sorted(LYING_PAGINATORS)),
    st.data(),
)
def test_lying_totals_and_flags_cannot_make_a_walk_loop(
    count: int, page_size: int, style: str, data: st.DataObject
) -> None:
    config, api_kind = LYING_PAGINATORS[style]
    paginator = make_paginator(config, page_size)
    records = collection(count)
    api = {
        "offset": offset_api(records),
        "page": page_number_api(records, 1),
        "stripe": starting_after_api(records, page_size),
    }[api_kind]
    # At worst every page is followed until the empty page past the end: the walk is bounded.
    seen, _ = walk(paginator, lying(api, data), ceil_div(count, page_size) + 1)
    # Believing an early "no more" may lose the tail, but never repeats or reorders a record.
    assert ids(seen) == list(range(len(seen)))
