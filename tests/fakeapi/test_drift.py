"""Drift: items inserted at or deleted from the front every few pages served, visible from the next page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
import pytest

from fakeapi import Inventory, SampleApi
from fakeapi.drift import Drift
from fakeapi.faults import FailNth

Item = dict[str, object]
PAGES = "/inventory/v1/items"
OFFSETS = "/crmRestApi/resources/11.12.1.0/items"


def _ids(items: Sequence[Mapping[str, object]]) -> list[str]:
    return [str(item["item_id"]) for item in items]


def offset_page(client: httpx.Client, offset: int, limit: int = 10) -> dict[str, object]:
    response = client.get(OFFSETS, params={"offset": offset, "limit": limit})
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def walk_offset(client: httpx.Client, limit: int) -> tuple[list[Item], int]:
    """Every item an offset client collects, and the totalResults of its last page."""
    items: list[Item] = []
    while True:
        body = offset_page(client, len(items), limit)
        items += body["items"]  # type: ignore[arg-type]
        if not body["hasMore"]:
            return items, int(body["totalResults"])  # type: ignore[call-overload]


def test_insert_happens_after_every_nth_page_and_shows_on_the_next(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    original = _ids(inventory.items())
    api.settings.drift = Drift(every_pages=2, insert=3)
    first = offset_page(client, 0)
    assert api.drift_events == []
    second = offset_page(client, 10)
    assert second["totalResults"] == 1003  # built before the drift it triggers
    [(kind, inserted)] = api.drift_events
    assert kind == "insert" and len(inserted) == 3
    assert _ids(inventory.items())[:3] == inserted
    third = offset_page(client, 20)
    assert third["totalResults"] == 1006
    assert _ids(first["items"]) + _ids(second["items"]) == original[:20]  # type: ignore[arg-type]
    assert _ids(third["items"]) == original[17:27]  # type: ignore[arg-type]  # shifted by the insert


def test_delete_removes_from_the_front_so_offsets_skip_items(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    original = _ids(inventory.items())
    api.settings.drift = Drift(every_pages=1, delete=4, stop_after=1)
    offset_page(client, 0)
    assert api.drift_events == [("delete", original[:4])]
    second = offset_page(client, 10)
    assert _ids(second["items"]) == original[14:24]  # type: ignore[arg-type]
    assert second["totalResults"] == 999
    assert len(api.drift_events) == 1  # stop_after


def test_page_number_totals_follow_the_live_inventory(client: httpx.Client, api: SampleApi) -> None:
    api.settings.drift = Drift(every_pages=1, insert=5, delete=2)
    totals = []
    for page in range(1, 5):
        context = client.get(PAGES, params={"page": page, "per_page": 100}).json()["page_context"]
        totals.append((context["total"], context["total_pages"]))
    assert totals == [(1003, 11), (1006, 11), (1009, 11), (1012, 11)]
    assert [kind for kind, _ in api.drift_events] == ["delete", "insert"] * 4


def test_offset_walk_sees_one_repeat_per_item_inserted_while_it_ran(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    original = set(_ids(inventory.items()))
    api.settings.drift = Drift(every_pages=5, insert=2, stop_after=3)
    items, total = walk_offset(client, 50)
    inserted = [item_id for kind, ids in api.drift_events if kind == "insert" for item_id in ids]
    assert len(inserted) == 6
    assert len(items) == total == 1003 + 6
    assert set(_ids(items)) == original  # the new items are behind the client, old ones come round again
    assert len(items) - len(set(_ids(items))) == 6


def test_offset_walk_misses_one_item_per_item_deleted_while_it_ran(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    original = set(_ids(inventory.items()))
    api.settings.drift = Drift(every_pages=4, delete=3, stop_after=2)
    items, total = walk_offset(client, 50)
    deleted = [item_id for kind, ids in api.drift_events if kind == "delete" for item_id in ids]
    assert len(deleted) == 6 and set(deleted) <= set(_ids(items))  # the front was delivered before it went
    assert len(items) == len(set(_ids(items))) == total == 1003 - 6
    assert len(original - set(_ids(items))) == 6  # six items not yet seen slid under the client's offset


def test_cursor_walk_sees_every_original_item_once_despite_drift(
    client: httpx.Client, api: SampleApi, inventory: Inventory
) -> None:
    original = _ids(inventory.items())
    api.settings.drift = Drift(every_pages=3, insert=4)
    seen: list[str] = []
    query: dict[str, str | int] = {"limit": 100}
    while True:
        body = client.get("/v1/items", params=query).json()
        seen += _ids(body["data"])
        if not body["has_more"]:
            break
        query["starting_after"] = seen[-1]
    assert seen == original  # cursors name an item, so inserts at the front change nothing for them
    assert len(api.drift_events) == 3  # after pages 3, 6 and 9 of 11
    assert len(inventory) == 1003 + 3 * 4


def test_only_pages_served_without_a_fault_count(client: httpx.Client, api: SampleApi) -> None:
    api.settings.faults = FailNth({2: "server_error", 3: "truncated"})
    api.settings.drift = Drift(every_pages=2, insert=1)
    offset_page(client, 0)
    assert client.get(OFFSETS, params={"offset": 10}).status_code == 500
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(OFFSETS, params={"offset": 10})
    assert api.drift_events == []
    offset_page(client, 10)
    client.get(OFFSETS, params={"limit": 0})  # a 400 is not a page
    assert len(api.drift_events) == 1


def test_replacing_the_drift_restarts_its_count(client: httpx.Client, api: SampleApi) -> None:
    api.settings.drift = Drift(every_pages=2, insert=1)
    offset_page(client, 0)
    api.settings.drift = Drift(every_pages=2, insert=1)
    offset_page(client, 0)
    assert api.drift_events == []
    offset_page(client, 0)
    api.settings.drift = None
    for _ in range(4):
        offset_page(client, 0)
    assert [kind for kind, _ in api.drift_events] == ["insert"]


def test_bad_drift_is_refused() -> None:
    with pytest.raises(ValueError):
        Drift(every_pages=0, insert=1)
    with pytest.raises(ValueError):
        Drift(every_pages=1, delete=-1)
