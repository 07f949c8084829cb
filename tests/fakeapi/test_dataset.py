"""Inventory: deterministic items, a strictly increasing logical clock, and mutations tests rely on."""

from __future__ import annotations

import itertools
import re
from datetime import datetime

import pytest

from fakeapi import Inventory
from fakeapi.dataset import modification_key


def _times(items: list[dict[str, object]], field: str = "last_modified_time") -> list[datetime]:
    return [datetime.fromisoformat(str(item[field])) for item in items]


def test_same_size_and_seed_give_identical_items() -> None:
    assert Inventory(50, seed=3).items() == Inventory(50, seed=3).items()
    assert Inventory(50, seed=3).items() != Inventory(50, seed=4).items()


def test_items_have_the_zoho_like_shape() -> None:
    items = Inventory(30, seed=1).items()
    first = items[0]
    assert first["item_id"] == "4815000000000001"
    assert first["sku"] == "SKU-00001"
    assert first["created_time"] == "2026-01-01T00:00:01+00:00"
    assert set(first) == {
        "item_id", "sku", "name", "rate", "stock_on_hand", "status", "category", "unit",
        "created_time", "last_modified_time", "custom_fields",
    }  # fmt: skip
    for item in items:
        assert re.fullmatch(r"4815000000\d{6}", item["item_id"])
        assert isinstance(item["rate"], float) and round(item["rate"], 2) == item["rate"]
        assert isinstance(item["stock_on_hand"], int) and item["stock_on_hand"] >= 0
        assert item["status"] in ("active", "inactive")
        assert item["unit"] == "pcs"
        assert str(item["last_modified_time"]).endswith("+00:00")
        assert set(item["custom_fields"]) == {"warehouse", "reorder_level"}
        assert len(str(item["name"]).split()) >= 3


def test_construction_times_increase_one_second_per_item() -> None:
    times = _times(Inventory(20).items())
    assert all((later - earlier).total_seconds() == 1 for earlier, later in itertools.pairwise(times))


def test_update_changes_stock_and_stamps_strictly_later_times() -> None:
    inventory = Inventory(100, seed=2)
    before = {item["item_id"]: item for item in inventory.items()}
    latest_before = max(_times(list(before.values())))
    changed = inventory.update(10)
    assert len(set(changed)) == 10
    after = {item["item_id"]: item for item in inventory.items()}
    changed_times = [datetime.fromisoformat(str(after[item_id]["last_modified_time"])) for item_id in changed]
    assert changed_times == sorted(changed_times) and len(set(changed_times)) == 10
    assert min(changed_times) > latest_before
    for item_id in changed:
        assert after[item_id]["stock_on_hand"] != before[item_id]["stock_on_hand"]
        assert after[item_id]["created_time"] == before[item_id]["created_time"]
    unchanged = set(before) - set(changed)
    assert all(after[item_id] == before[item_id] for item_id in unchanged)


def test_update_with_rng_seed_is_reproducible() -> None:
    assert Inventory(100).update(5, rng_seed=9) == Inventory(100).update(5, rng_seed=9)
    with pytest.raises(ValueError):
        Inventory(3).update(4)


def test_update_ids_rejects_unknown_ids_without_changing_anything() -> None:
    inventory = Inventory(10)
    before = inventory.items()
    with pytest.raises(KeyError):
        inventory.update_ids(["4815000000000001", "nope"])
    assert inventory.items() == before
    assert inventory.update_ids(["4815000000000003"]) == ["4815000000000003"]


def test_add_appends_and_insert_front_prepends_new_sequence_numbers() -> None:
    inventory = Inventory(5)
    assert inventory.add(2) == ["4815000000000006", "4815000000000007"]
    assert inventory.insert_front(2) == ["4815000000000008", "4815000000000009"]
    ids = [item["item_id"] for item in inventory.items()]
    assert ids[:2] == ["4815000000000008", "4815000000000009"]
    assert ids[-2:] == ["4815000000000006", "4815000000000007"]
    assert len(inventory) == 9
    assert _times(inventory.items()[:2]) > _times(inventory.items()[-2:])


def test_delete_removes_items() -> None:
    inventory = Inventory(5)
    inventory.delete(["4815000000000002", "4815000000000004"])
    assert [item["item_id"] for item in inventory.items()] == [
        "4815000000000001", "4815000000000003", "4815000000000005",
    ]  # fmt: skip
    assert inventory.get("4815000000000002") is None
    with pytest.raises(KeyError):
        inventory.delete(["4815000000000002"])


def test_modified_since_is_strictly_after_and_keeps_collection_order() -> None:
    inventory = Inventory(10)
    changed = inventory.update_ids(["4815000000000009", "4815000000000002"])
    newer = inventory.modified_since("2026-01-01T00:00:10+00:00")  # the last construction tick
    assert [item["item_id"] for item in newer] == ["4815000000000002", "4815000000000009"]
    assert [item["item_id"] for item in inventory.ordered_by_modified()][-2:] == changed
    assert inventory.modified_since("2026-01-01T00:00:09Z")[0]["item_id"] == "4815000000000002"
    ordered = inventory.ordered_by_modified()
    assert ordered == sorted(inventory.items(), key=modification_key)


def test_returned_items_are_copies() -> None:
    inventory = Inventory(3)
    inventory.items()[0]["rate"] = -1.0
    item = inventory.get("4815000000000001")
    assert item is not None and item["rate"] != -1.0
