"""Every pagination shape of the sample API walked to the end over a socket: filters, sort, limits, drift."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from fakeapi import Inventory, SampleApi
from fakeapi.dataset import modification_key

Item = dict[str, object]
Walk = Callable[[httpx.Client, dict[str, str], int], list[Item]]
Connect = Callable[[str], httpx.Client]
LINK = re.compile(r'<(?P<url>[^>]+)>; rel="(?P<rel>[a-z]+)"')


def _ids(items: list[Item]) -> list[object]:
    return [item["item_id"] for item in items]


# --- walkers: page through one shape the way a client would, asserting the shape's bookkeeping ------------


def walk_page_number(client: httpx.Client, params: dict[str, str], size: int) -> list[Item]:
    items: list[Item] = []
    page = 1
    while True:
        response = client.get("/inventory/v1/items", params={**params, "page": page, "per_page": size})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["code"], body["message"]) == (0, "success")
        context = body["page_context"]
        assert (context["page"], context["per_page"]) == (page, size)
        assert context["total_pages"] == -(-context["total"] // size)
        items += body["items"]
        if not context["has_more_page"]:
            assert len(items) == context["total"]
            return items
        page += 1


def walk_offset(client: httpx.Client, params: dict[str, str], size: int) -> list[Item]:
    items: list[Item] = []
    while True:
        response = client.get(
            "/crmRestApi/resources/11.12.1.0/items", params={**params, "offset": len(items), "limit": size}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["offset"], body["limit"], body["count"]) == (len(items), size, len(body["items"]))
        items += body["items"]
        if not body["hasMore"]:
            assert len(items) == body["totalResults"]
            return items


def walk_starting_after(client: httpx.Client, params: dict[str, str], size: int) -> list[Item]:
    items: list[Item] = []
    query: dict[str, str | int] = {**params, "limit": size}
    while True:
        response = client.get("/v1/items", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["object"], body["url"]) == ("list", "/v1/items")
        items += body["data"]
        if not body["has_more"]:
            return items
        query["starting_after"] = str(body["data"][-1]["item_id"])


def walk_body_cursor(client: httpx.Client, params: dict[str, str], size: int) -> list[Item]:
    items: list[Item] = []
    query: dict[str, str | int] = {**params, "limit": size}
    while True:
        response = client.get("/api/items", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if body["next_cursor"] is None:
            return items
        query = {"limit": size, "cursor": body["next_cursor"]}  # the cursor carries the filter


def walk_link_header(client: httpx.Client, params: dict[str, str], size: int) -> list[Item]:
    items: list[Item] = []
    response = client.get("/repos/items", params={**params, "per_page": size})
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["content-length"] == str(len(response.content))
        items += response.json()
        links = {match["rel"]: match["url"] for match in LINK.finditer(response.headers.get("link", ""))}
        if "next" not in links:
            return items
        response = client.get(links["next"])


def walk_next_url(client: httpx.Client, params: dict[str, str], size: int) -> list[Item]:
    response = client.get("/services/data/v59.0/query", params={**params, "batchSize": size})
    items: list[Item] = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["records"]
        if body["done"]:
            assert "nextRecordsUrl" not in body
            assert len(items) == body["totalSize"]
            return items
        assert body["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
        response = client.get(body["nextRecordsUrl"])


WALKS: dict[str, Walk] = {
    "page_number": walk_page_number,
    "offset": walk_offset,
    "starting_after": walk_starting_after,
    "body_cursor": walk_body_cursor,
    "link_header": walk_link_header,
    "next_url": walk_next_url,
}
SHAPES = pytest.mark.parametrize("walk", WALKS.values(), ids=WALKS.keys())


# --- every shape returns every item exactly once -----------------------------------------------------


@SHAPES
@pytest.mark.parametrize("size", [10, 100, 1000])
def test_walk_returns_every_item_once_in_order(
    walk: Walk, size: int, client: httpx.Client, inventory: Inventory, api: SampleApi
) -> None:
    items = walk(client, {}, size)
    assert items == inventory.items()
    assert sum(entry.record_count for entry in api.requests) == len(inventory)
    assert len(api.requests) == -(-len(inventory) // size)


@SHAPES
def test_walk_of_an_empty_inventory_is_one_empty_page(walk: Walk, connect: Connect) -> None:
    with SampleApi(Inventory(0)) as api:
        assert walk(connect(api.url), {}, 10) == []
        assert len(api.requests) == 1


@SHAPES
def test_modified_since_returns_only_later_changes(
    walk: Walk, client: httpx.Client, inventory: Inventory
) -> None:
    watermark = str(inventory.items()[-1]["last_modified_time"])
    changed = inventory.update(40, rng_seed=1)
    items = walk(client, {"modified_since": watermark}, 15)
    assert items == inventory.modified_since(watermark)
    assert sorted(_ids(items)) == sorted(changed)


@SHAPES
def test_q_expression_filters_like_modified_since(
    walk: Walk, client: httpx.Client, inventory: Inventory
) -> None:
    inventory.update(25, rng_seed=2)
    watermark = "2026-01-01T00:16:40+00:00"  # tick 1000: the last three construction items and the updates
    items = walk(client, {"q": f"last_modified_time > '{watermark}'"}, 10)
    assert items == inventory.modified_since(watermark)
    assert len(items) == 3 + 25


@SHAPES
def test_sort_orders_by_modified_time_then_id(walk: Walk, client: httpx.Client, inventory: Inventory) -> None:
    changed = inventory.update(30, rng_seed=3)
    items = walk(client, {"sort": "last_modified_time"}, 64)
    assert items == sorted(inventory.items(), key=modification_key)
    assert _ids(items)[-30:] == changed


def test_salesforce_q_ignores_other_soql_but_honours_the_filter(
    client: httpx.Client, inventory: Inventory
) -> None:
    everything = walk_next_url(client, {"q": "SELECT Id, Name FROM Item"}, 500)
    assert len(everything) == len(inventory)
    changed = inventory.update(5, rng_seed=4)
    watermark = str(everything[-1]["last_modified_time"])
    soql = f"SELECT Id FROM Item WHERE last_modified_time > {watermark} ORDER BY Id"
    assert sorted(_ids(walk_next_url(client, {"q": soql}, 500))) == sorted(changed)


# --- consistency under change: what cursors promise and offsets do not ---------------------------------


def test_offset_pages_drift_when_items_are_inserted_at_the_front(
    client: httpx.Client, inventory: Inventory
) -> None:
    path = "/crmRestApi/resources/11.12.1.0/items"
    first = client.get(path, params={"limit": 10}).json()["items"]
    inventory.insert_front(3)
    second = client.get(path, params={"limit": 10, "offset": 10}).json()["items"]
    assert _ids(second)[:3] == _ids(first)[-3:]


def test_cursors_do_not_drift_when_items_are_inserted_at_the_front(
    client: httpx.Client, inventory: Inventory
) -> None:
    page = client.get("/api/items", params={"limit": 10}).json()
    stripe = client.get("/v1/items", params={"limit": 10}).json()["data"]
    inventory.insert_front(3)
    after_cursor = client.get("/api/items", params={"limit": 10, "cursor": page["next_cursor"]}).json()
    after_id = client.get("/v1/items", params={"limit": 10, "starting_after": stripe[-1]["item_id"]}).json()
    expected = _ids(inventory.items()[13:23])
    assert _ids(after_cursor["items"]) == expected
    assert _ids(after_id["data"]) == expected


def test_sorted_body_cursor_is_a_keyset_that_survives_updates(
    client: httpx.Client, inventory: Inventory
) -> None:
    original_order = _ids(inventory.ordered_by_modified())
    page = client.get("/api/items", params={"limit": 500, "sort": "last_modified_time"}).json()
    delivered = _ids(page["items"])
    changed = inventory.update_ids([str(delivered[0]), str(delivered[1])])
    rest = walk_body_cursor_from(client, page["next_cursor"])
    # Nothing skipped, nothing repeated, and the two changed items come round again at the end.
    assert delivered + _ids(rest) == original_order + changed


def walk_body_cursor_from(client: httpx.Client, cursor: str) -> list[Item]:
    items: list[Item] = []
    next_cursor: str | None = cursor
    while next_cursor is not None:
        body = client.get("/api/items", params={"limit": 200, "cursor": next_cursor}).json()
        items += body["items"]
        next_cursor = body["next_cursor"]
    return items


def test_body_cursor_to_a_deleted_item_is_refused(client: httpx.Client, inventory: Inventory) -> None:
    page = client.get("/api/items", params={"limit": 10}).json()
    inventory.delete([str(page["items"][-1]["item_id"])])
    response = client.get("/api/items", params={"cursor": page["next_cursor"]})
    assert response.status_code == 400
    assert "no longer exists" in response.json()["error"]


def test_next_url_pages_come_from_a_snapshot_taken_when_the_query_ran(
    client: httpx.Client, inventory: Inventory
) -> None:
    expected = inventory.items()
    first = client.get("/services/data/v59.0/query", params={"batchSize": 600}).json()
    inventory.insert_front(5)
    inventory.update(10)
    rest = client.get(first["nextRecordsUrl"]).json()
    assert first["records"] + rest["records"] == expected
    assert rest["done"] is True


def test_next_url_batch_size_can_come_from_the_sforce_query_options_header(client: httpx.Client) -> None:
    body = client.get("/services/data/v59.0/query", headers={"Sforce-Query-Options": "batchSize=300"}).json()
    assert len(body["records"]) == 300
    assert body["nextRecordsUrl"].endswith("-300")


@pytest.mark.parametrize(
    "path",
    [
        "/services/data/v59.0/query/01g999999999999999-200",
        "/services/data/v59.0/query/garbage",
        "/services/data/v59.0/query/01g000000000000001-x",
    ],
)
def test_unknown_query_locator_is_refused_like_salesforce(client: httpx.Client, path: str) -> None:
    client.get("/services/data/v59.0/query", params={"batchSize": 200})  # opens locator ...001
    response = client.get(path)
    assert response.status_code == 400
    assert response.json() == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]


# --- response details of each shape ------------------------------------------------------------------


def test_page_number_defaults_and_page_context(client: httpx.Client) -> None:
    body = client.get("/inventory/v1/items").json()
    assert len(body["items"]) == 200
    assert body["page_context"] == {
        "page": 1, "per_page": 200, "has_more_page": True, "total": 1003, "total_pages": 6,
    }  # fmt: skip
    past_end = client.get("/inventory/v1/items", params={"page": 7}).json()
    assert past_end["items"] == [] and past_end["page_context"]["has_more_page"] is False


def test_offset_defaults(client: httpx.Client) -> None:
    body = client.get("/crmRestApi/resources/11.12.1.0/items").json()
    assert {key: value for key, value in body.items() if key != "items"} == {
        "count": 25, "hasMore": True, "limit": 25, "offset": 0, "totalResults": 1003,
    }  # fmt: skip


def test_link_header_follows_rfc_8288_with_absolute_urls(client: httpx.Client, api: SampleApi) -> None:
    response = client.get("/repos/items", params={"per_page": 100})
    assert response.headers["link"] == (
        f'<{api.url}/repos/items?page=2&per_page=100>; rel="next", '
        f'<{api.url}/repos/items?page=11&per_page=100>; rel="last"'
    )
    middle = client.get("/repos/items", params={"page": 5, "per_page": 100, "modified_since": "2026-01-01"})
    rels = [match["rel"] for match in LINK.finditer(middle.headers["link"])]
    assert rels == ["prev", "next", "last", "first"]
    assert all(
        "modified_since=2026-01-01" in match["url"] and match["url"].startswith(f"{api.url}/repos/items?")
        for match in LINK.finditer(middle.headers["link"])
    )
    last = client.get("/repos/items", params={"page": 11, "per_page": 100})
    assert len(last.json()) == 3
    assert [match["rel"] for match in LINK.finditer(last.headers["link"])] == ["prev", "first"]
    single = client.get("/repos/items", params={"per_page": 1000, "modified_since": "2026-01-01T00:16:00Z"})
    assert "link" not in single.headers


def test_starting_after_an_unknown_id_is_a_stripe_style_400(client: httpx.Client) -> None:
    response = client.get("/v1/items", params={"starting_after": "4815000000999999"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "resource_missing",
            "message": "No such item: '4815000000999999'",
            "param": "starting_after",
            "type": "invalid_request_error",
        }
    }


@pytest.mark.parametrize("cursor", ["not-base64!!", "eyJ2IjoyfQ", "bnVsbA", ""])
def test_invalid_body_cursor_is_refused(client: httpx.Client, cursor: str) -> None:
    response = client.get("/api/items", params={"cursor": cursor, "limit": 5})
    if cursor == "":  # an empty cursor is the first page, as many APIs accept
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json() == {"error": "cursor is invalid"}


# --- limits and bad parameters -----------------------------------------------------------------------

PAGE_SIZE_PARAMS = [
    ("/inventory/v1/items", "per_page"),
    ("/crmRestApi/resources/11.12.1.0/items", "limit"),
    ("/v1/items", "limit"),
    ("/api/items", "limit"),
    ("/repos/items", "per_page"),
    ("/services/data/v59.0/query", "batchSize"),
]


@pytest.mark.parametrize(("path", "param"), PAGE_SIZE_PARAMS)
@pytest.mark.parametrize("value", ["1001", "0", "-5", "ten"])
def test_page_size_outside_limits_is_a_400(client: httpx.Client, path: str, param: str, value: str) -> None:
    response = client.get(path, params={param: value})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert param in response.text


def test_max_page_size_can_change_while_serving(client: httpx.Client, api: SampleApi) -> None:
    assert client.get("/inventory/v1/items", params={"per_page": 500}).status_code == 200
    api.settings.max_page_size = 100
    assert client.get("/inventory/v1/items", params={"per_page": 500}).status_code == 400
    assert client.get("/inventory/v1/items", params={"per_page": 100}).status_code == 200


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"modified_since": "yesterday"}, "modified_since"),
        ({"q": "name = 'x'"}, "q"),
        ({"q": "last_modified_time > 'soon'"}, "q"),
        ({"sort": "name"}, "sort"),
        ({"page": "0"}, "page"),
    ],
)
def test_bad_filter_sort_or_page_is_a_400(client: httpx.Client, params: dict[str, str], param: str) -> None:
    response = client.get("/inventory/v1/items", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == 2 and param in response.json()["message"]


def test_offset_below_zero_is_a_400(client: httpx.Client) -> None:
    response = client.get("/crmRestApi/resources/11.12.1.0/items", params={"offset": -1})
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


def test_unencoded_plus_in_modified_since_is_read_as_a_utc_offset(api: SampleApi) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    connection.request("GET", "/inventory/v1/items?modified_since=2026-01-01T00:16:40+00:00")
    body = connection.getresponse().read()
    assert b'"total":3' in body
    connection.close()


def test_concurrent_walks_during_updates_each_see_every_item_once(
    api: SampleApi, inventory: Inventory, connect: Connect
) -> None:
    expected_ids = sorted(_ids(inventory.items()))
    results: list[list[object]] = []

    def walk_in_thread() -> None:
        results.append(sorted(_ids(walk_starting_after(connect(api.url), {}, 50))))

    threads = [threading.Thread(target=walk_in_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        inventory.update(5)  # updates keep positions, so a cursor walk still sees each item exactly once
        time.sleep(0.002)
    for thread in threads:
        thread.join()
    assert results == [expected_ids] * 4
    assert {entry.status for entry in api.requests} == {200}
