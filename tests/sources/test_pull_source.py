"""PullSource: one page per cursor through the HTTP client, and loud failures when paging goes wrong.

Each test answers one request (or none) through `httpx.MockTransport`; the walk over a real API is tested
against the sample API elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from batchsync.config import RestSourceConfig
from batchsync.errors import PaginationError
from batchsync.http.client import HttpClient
from batchsync.models import JsonResponse, JSONValue, Page
from batchsync.sources.pull import PullSource

BASE_URL = "https://api.example.com/v2"


def source_config(**settings: object) -> RestSourceConfig:
    return RestSourceConfig.model_validate(
        {
            "type": "rest",
            "base_url": BASE_URL,
            "path": "/items",
            "params": {"status": "active", "verbose": True},
            "records_path": "data.items",
            "paginator": {"type": "cursor", "cursor_param": "cursor", "next_cursor_path": "next"},
            **settings,
        }
    )


class OneAnswerApi:
    """Answers every request with one JSON body and remembers the URLs it was asked for."""

    def __init__(self, body: JSONValue) -> None:
        self.body = body
        self.seen: list[httpx.URL] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.url)
        return httpx.Response(200, json=self.body)


@pytest.fixture
def api() -> OneAnswerApi:
    return OneAnswerApi({"data": {"items": [{"id": 1}, {"id": 2}]}, "next": "c2"})


@pytest.fixture
def client(api: OneAnswerApi) -> Iterator[HttpClient]:
    with HttpClient(BASE_URL, transport=httpx.MockTransport(api)) as http:
        yield http


def page_with_next(next_cursor: JSONValue) -> Page:
    return Page(JsonResponse(f"{BASE_URL}/items", 200, {}, {"next": next_cursor}), [{"id": 1}])


def test_fetch_page_sends_the_source_params_and_the_cursor(api: OneAnswerApi, client: HttpClient) -> None:
    source = PullSource(source_config(), client)
    page = source.fetch_page("c1")
    assert page.records == [{"id": 1}, {"id": 2}]
    assert len(api.seen) == 1
    url = api.seen[0]
    assert (url.host, url.path) == ("api.example.com", "/v2/items")
    assert dict(url.params) == {"status": "active", "verbose": "true", "cursor": "c1"}


def test_next_cursor_passes_on_new_cursors(client: HttpClient) -> None:
    source = PullSource(source_config(), client)
    assert source.next_cursor(page_with_next("c2"), None) == "c2"
    assert source.next_cursor(page_with_next("c3"), "c2") == "c3"
    assert source.next_cursor(page_with_next(None), "c3") is None


def test_a_cursor_equal_to_the_current_one_is_a_pagination_error(client: HttpClient) -> None:
    source = PullSource(source_config(), client)
    with pytest.raises(PaginationError, match="'c7' twice") as raised:
        source.next_cursor(page_with_next("c7"), "c7")
    assert raised.value.url == f"{BASE_URL}/items"


def test_a_cursor_seen_earlier_in_the_run_is_a_pagination_error(client: HttpClient) -> None:
    source = PullSource(source_config(), client)
    assert source.next_cursor(page_with_next("a"), None) == "a"
    assert source.next_cursor(page_with_next("b"), "a") == "b"
    with pytest.raises(PaginationError, match="twice"):
        source.next_cursor(page_with_next("a"), "b")


def test_records_path_missing_from_the_answer_names_the_path_and_the_keys_present() -> None:
    api = OneAnswerApi({"results": [{"id": 1}], "meta": {"page": 1}})
    with HttpClient(BASE_URL, transport=httpx.MockTransport(api)) as http:
        source = PullSource(source_config(records_path="items"), http)
        with pytest.raises(PaginationError) as raised:
            source.fetch_page(None)
    message = str(raised.value)
    assert "records_path items" in message
    assert "results, meta" in message
    assert raised.value.url is not None and raised.value.url.startswith(f"{BASE_URL}/items")


def test_records_that_are_not_a_list_of_objects_are_a_pagination_error() -> None:
    api = OneAnswerApi({"data": {"items": {"id": 1}}})
    with HttpClient(BASE_URL, transport=httpx.MockTransport(api)) as http:
        source = PullSource(source_config(), http)
        with pytest.raises(PaginationError, match=r"records_path data\.items .* not a list of objects"):
            source.fetch_page(None)


def test_null_records_are_an_empty_page() -> None:
    api = OneAnswerApi({"data": {"items": None}})
    with HttpClient(BASE_URL, transport=httpx.MockTransport(api)) as http:
        assert PullSource(source_config(), http).fetch_page(None).records == []


def test_without_records_path_the_whole_answer_is_the_list_of_records() -> None:
    api = OneAnswerApi([{"id": 1}, {"id": 2}, {"id": 3}])
    with HttpClient(BASE_URL, transport=httpx.MockTransport(api)) as http:
        source = PullSource(source_config(records_path=None, paginator=None), http)
        page = source.fetch_page(source.first_cursor())
        assert page.records == [{"id": 1}, {"id": 2}, {"id": 3}]
        assert source.next_cursor(page, source.first_cursor()) is None
