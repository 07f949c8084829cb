"""Poison records: broken items appear in every shape, only for their ids, and vanish when cleared."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from fakeapi import Inventory, SampleApi
from fakeapi.poison import POISON_KINDS, TYPE_POISON_KINDS, choose_poison, poison_item

Item = dict[str, object]

# shape -> (path, page size parameter, key of the items in the body or None for a bare list)
SHAPES: dict[str, tuple[str, str, str | None]] = {
    "page_number": ("/inventory/v1/items", "per_page", "items"),
    "offset": ("/crmRestApi/resources/11.12.1.0/items", "limit", "items"),
    "starting_after": ("/v1/items", "limit", "data"),
    "body_cursor": ("/api/items", "limit", "items"),
    "link_header": ("/repos/items", "per_page", None),
    "next_url": ("/services/data/v59.0/query", "batchSize", "records"),
}


def first_page(client: httpx.Client, shape: str) -> list[Item]:
    """The first 1,000 items of `shape`, as served."""
    path, size_param, key = SHAPES[shape]
    response = client.get(path, params={size_param: 1000})
    assert response.status_code == 200, response.text
    body = response.json()
    items: list[Item] = body if key is None else body[key]
    return items


@pytest.mark.parametrize("shape", SHAPES)
def test_poisoned_items_are_broken_in_every_shape_and_only_they_are(
    client: httpx.Client, api: SampleApi, inventory: Inventory, shape: str
) -> None:
    clean = inventory.items()[:1000]
    poison = choose_poison(inventory, 0.02, seed=3, kinds=POISON_KINDS)
    poison = {item_id: kind for item_id, kind in poison.items() if int(item_id[-6:]) <= 1000}
    api.settings.poison = poison
    served = first_page(client, shape)
    assert served == [
        poison_item(item, poison[str(item["item_id"])]) if item["item_id"] in poison else item
        for item in clean
    ]
    api.settings.poison = {}  # the source is fixed: the same page comes back clean
    assert first_page(client, shape) == clean
    assert inventory.items()[:1000] == clean  # poison never touched the inventory itself


def test_each_kind_breaks_its_field_as_documented(client: httpx.Client, api: SampleApi) -> None:
    items = client.get("/v1/items", params={"limit": 6}).json()["data"]
    ids = [item["item_id"] for item in items]
    api.settings.poison = dict(zip(ids, POISON_KINDS, strict=False))
    served = client.get("/v1/items", params={"limit": 6}).json()["data"]
    missing, integer, decimal, moment, negative, untouched = served
    assert "item_id" not in missing and missing["sku"] == items[0]["sku"]
    assert integer["stock_on_hand"] == "lots"
    assert decimal["rate"] == "12,5€"
    assert moment["last_modified_time"] == "yesterday"
    assert negative["rate"] == -1
    assert untouched == items[5]
    for item, original in zip(served[1:5], items[1:5], strict=True):
        changed = {name for name in original if item[name] != original[name]}
        assert len(changed) == 1  # one broken field per poisoned item, the rest as before


def test_poison_applies_to_items_that_change_later(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    item_id = str(inventory.items()[0]["item_id"])
    api.settings.poison = {item_id: "bad_integer"}
    inventory.update_ids([item_id])
    first = client.get("/v1/items", params={"limit": 1}).json()["data"][0]
    assert first["stock_on_hand"] == "lots"
    assert first["last_modified_time"] == inventory.get(item_id)["last_modified_time"]  # type: ignore[index]


def test_an_unknown_poison_kind_is_a_logged_500(client: httpx.Client, api: SampleApi) -> None:
    api.settings.poison = {"4815000000000001": "radioactive"}
    assert client.get("/v1/items", params={"limit": 1}).status_code == 500


def test_choose_poison_is_reproducible_and_spreads_kinds_evenly(inventory: Inventory) -> None:
    chosen = choose_poison(inventory, 0.05, seed=9)
    assert chosen == choose_poison(inventory, 0.05, seed=9)
    assert chosen != choose_poison(inventory, 0.05, seed=10)
    assert len(chosen) == round(len(inventory) * 0.05) == 50
    assert set(Counter(chosen.values()).values()) <= {12, 13}
    assert set(chosen.values()) == set(TYPE_POISON_KINDS)
    order = [str(item["item_id"]) for item in inventory.items()]
    assert list(chosen) == sorted(chosen, key=order.index)  # listed in collection order
    assert len(choose_poison(inventory, 0.0001, seed=1)) == 1
    assert choose_poison(inventory, 0, seed=1) == {}
    with pytest.raises(ValueError):
        choose_poison(inventory, 1.5, seed=1)
