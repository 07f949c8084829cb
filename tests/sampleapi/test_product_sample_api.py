"""The product's sample API (`batchsync sample-api`, `batchsync demo`) serves what the README and docs
walk through against it, over a real socket, and none of the test fake API's machinery."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import batchsync.sampleapi
from batchsync.sampleapi import Accounts, Inventory, SampleApi


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with SampleApi(Inventory(size=450)) as api, httpx.Client(base_url=api.url, timeout=5.0) as http:
        yield http


def test_public_names() -> None:
    names = ["Accounts", "Inventory", "SampleApi", "serve"]
    assert sorted(batchsync.sampleapi.__all__) == names
    assert batchsync.sampleapi.__doc__


def test_inventory_pages_by_page_number_until_has_more_page_is_false(client: httpx.Client) -> None:
    pages = [client.get("/inventory/v1/items", params={"page": n, "per_page": 200}).json() for n in (1, 2, 3)]

    assert [len(page["items"]) for page in pages] == [200, 200, 50]
    assert [page["page_context"]["has_more_page"] for page in pages] == [True, True, False]
    assert pages[2]["page_context"] == {
        "page": 3, "per_page": 200, "has_more_page": False, "total": 450, "total_pages": 3,
    }  # fmt: skip
    assert len({item["item_id"] for page in pages for item in page["items"]}) == 450


def test_incremental_walkthrough_filters_by_modified_since_and_sorts(client: httpx.Client) -> None:
    # Item n was last modified n seconds after 2026-01-01T00:00:00+00:00.
    params = {"modified_since": "2026-01-01T00:07:00+00:00", "sort": "last_modified_time", "per_page": 500}
    items = client.get("/inventory/v1/items", params=params).json()["items"]

    assert len(items) == 450 - 420
    assert items == sorted(items, key=lambda item: (item["last_modified_time"], item["item_id"]))


def test_targeted_walkthrough_lists_the_items_asked_for_and_leaves_out_unknown_ids(
    client: httpx.Client,
) -> None:
    ids = "4815000000000042,4815000000000003,4815000009999999"
    listed = client.get("/inventory/v1/items", params={"item_ids": ids})

    assert [item["item_id"] for item in listed.json()["items"]] == ["4815000000000042", "4815000000000003"]


def test_the_product_serves_only_the_walkthroughs_paths(client: httpx.Client) -> None:
    # Reading one item by id (Zoho's /items/{id}) and /health are the test fake API's, not the product's.
    assert client.get("/inventory/v1/items/4815000000000042").status_code == 404
    assert client.get("/health").status_code == 404


def test_lookup_walkthrough_refreshes_items_by_id_fifty_at_a_time(client: httpx.Client) -> None:
    ids = [row.item_id for row in Inventory(size=300).rows]  # the README's keys table
    batch = ids[100:150]  # as a lookup with batch_size 50 and send_keys_as {query_param: item_ids} asks

    answer = client.get("/inventory/v1/items", params={"item_ids": ",".join(batch)}).json()

    assert answer["code"] == 0
    assert [item["item_id"] for item in answer["items"]] == batch  # records_path items, match_on item_id
    assert all(isinstance(item["rate"], float) for item in answer["items"])
    assert all(isinstance(item["stock_on_hand"], int) for item in answer["items"])


def test_the_key_check_service_is_only_the_test_fake_apis(client: httpx.Client) -> None:
    assert not hasattr(batchsync.sampleapi, "KeyService")
    assert client.get("/api/keycheck", params={"keys": "BCDFG-HJKMP-QRTVW-XY234-6789B"}).status_code == 404
    assert client.post("/api/keycheck", json={"keys": ["BCDFG-HJKMP-QRTVW-XY234-6789B"]}).status_code == 405


def test_fanout_walkthrough_serves_transactions_only_with_the_own_token(client: httpx.Client) -> None:
    url = "/accounts/acc-1/transactions"

    allowed = client.get(url, headers={"Authorization": f"Bearer {Accounts().token_for('acc-1')}"})
    refused = client.get(url, headers={"Authorization": "Bearer tok-acc-1-expired"})

    assert allowed.status_code == 200
    assert allowed.json()["page_context"]["total"] == 118  # as the README's fan-out table shows
    assert refused.status_code == 401 and refused.json()["code"] == 57


@pytest.mark.parametrize(
    "path", ["/crmRestApi/resources/11.12.1.0/items", "/v1/items", "/services/data/v59.0/query", "/accounts"]
)
def test_the_test_fake_apis_other_shapes_are_not_served(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 404
