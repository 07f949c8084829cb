"""Targeted reads: one item by id and a list by ids, from the same inventory (and poison) as the pages."""

from __future__ import annotations

import httpx
import pytest

from fakeapi import BearerAuth, Inventory, SampleApi
from fakeapi.poison import poison_item

ITEMS = "/inventory/v1/items"
NOT_FOUND = {"code": 1002, "message": "Item does not exist."}
UNKNOWN_ID = "4815000000999999"


def test_single_item_is_the_inventory_item_in_zoho_shape(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    item = inventory.items()[41]
    response = client.get(f"{ITEMS}/{item['item_id']}")
    assert response.status_code == 200
    assert response.json() == {"code": 0, "message": "success", "item": item}
    entry = api.requests[-1]
    assert (entry.path, entry.status, entry.record_count) == (f"{ITEMS}/{item['item_id']}", 200, 1)


def test_unknown_single_item_is_a_404_with_zoho_code(client: httpx.Client, api: SampleApi) -> None:
    response = client.get(f"{ITEMS}/{UNKNOWN_ID}")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert (api.requests[-1].status, api.requests[-1].record_count) == (404, 0)


def test_single_item_shows_changes_and_deletion(client: httpx.Client, inventory: Inventory) -> None:
    item_id = str(inventory.items()[0]["item_id"])
    inventory.update_ids([item_id])
    assert client.get(f"{ITEMS}/{item_id}").json()["item"] == inventory.get(item_id)
    inventory.delete([item_id])
    assert client.get(f"{ITEMS}/{item_id}").status_code == 404


def test_item_ids_lists_just_those_items_in_the_order_asked(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    items = inventory.items()
    wanted = [items[500], items[3], items[1002]]
    ids = [str(item["item_id"]) for item in wanted]
    asked = [ids[0], UNKNOWN_ID, ids[1], ids[0], ids[2]]  # an unknown id and a repeat
    response = client.get(ITEMS, params={"item_ids": ",".join(asked), "page": 3, "per_page": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["items"] == wanted
    assert body["page_context"]["has_more_page"] is False
    assert (body["code"], body["page_context"]["page"], body["page_context"]["total"]) == (0, 1, 3)
    assert api.requests[-1].record_count == 3


def test_item_ids_of_only_unknown_items_is_an_empty_page(client: httpx.Client) -> None:
    body = client.get(ITEMS, params={"item_ids": UNKNOWN_ID}).json()
    assert body["items"] == [] and body["page_context"]["has_more_page"] is False


@pytest.mark.parametrize(("count", "status"), [(200, 200), (201, 400)])
def test_item_ids_accepts_at_most_200_ids(
    client: httpx.Client, inventory: Inventory, count: int, status: int
) -> None:
    ids = [str(item["item_id"]) for item in inventory.items()[:count]]
    response = client.get(ITEMS, params={"item_ids": ",".join(ids)})
    assert response.status_code == status
    if status == 200:
        assert len(response.json()["items"]) == 200
    else:
        assert response.json()["code"] == 2 and "200" in response.json()["message"]


def test_empty_item_ids_is_a_400(client: httpx.Client) -> None:
    assert client.get(ITEMS, params={"item_ids": ""}).status_code == 400


def test_poison_applies_to_targeted_reads(client: httpx.Client, api: SampleApi, inventory: Inventory) -> None:
    first, second = inventory.items()[:2]
    api.settings.poison = {str(first["item_id"]): "bad_integer"}
    assert client.get(f"{ITEMS}/{first['item_id']}").json()["item"] == poison_item(first, "bad_integer")
    listed = client.get(ITEMS, params={"item_ids": f"{first['item_id']},{second['item_id']}"}).json()
    assert listed["items"] == [poison_item(first, "bad_integer"), second]


def test_targeted_reads_need_the_same_auth_as_pages(client: httpx.Client, api: SampleApi) -> None:
    api.settings.auth = BearerAuth("s3cret")
    item_id = str(api.inventory.items()[0]["item_id"])
    assert client.get(f"{ITEMS}/{item_id}").status_code == 401
    assert client.get(ITEMS, params={"item_ids": item_id}).status_code == 401
    sent = {"Authorization": "Bearer s3cret"}
    assert client.get(f"{ITEMS}/{item_id}", headers=sent).status_code == 200


def test_other_item_paths_and_methods(client: httpx.Client, api: SampleApi) -> None:
    item_id = str(api.inventory.items()[0]["item_id"])
    assert client.post(f"{ITEMS}/{item_id}").status_code == 405
    assert client.get(f"{ITEMS}/{item_id}/extra").status_code == 404
    assert client.get(f"{ITEMS}/").status_code == 404
