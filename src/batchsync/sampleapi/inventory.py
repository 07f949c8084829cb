"""The sample inventory, answered like Zoho Inventory (the page shape is in `messages.py`):

GET /inventory/v1/items?page=1&per_page=200      also ?modified_since=<ISO-8601>, ?sort=last_modified_time
GET /inventory/v1/items?item_ids=ID1,ID2         one page holding just those items
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeAlias

import orjson

from batchsync.sampleapi import messages
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
Item: TypeAlias = "dict[str, JSONValue]"

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
ITEMS_PATH = "/inventory/v1/items"
MAX_ITEM_IDS = 200  # as Zoho caps its bulk reads
# category -> nouns that make sense in it; names read like a real catalogue rather than "Item 17".
_NOUNS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "Kitchen": ("Chef's Knife", "Cutting Board", "Saucepan", "Water Bottle", "Coffee Grinder", "Mixing Bowl"),
    "Office": ("Desk Lamp", "Notebook", "Stapler", "Monitor Stand", "Desk Organizer", "Whiteboard"),
    "Outdoor": ("Camping Lantern", "Trekking Pole", "Daypack", "Sleeping Mat", "Rain Poncho", "Hammock"),
    "Electronics": ("USB-C Cable", "Wireless Mouse", "Power Bank", "Bluetooth Speaker", "HDMI Adapter"),
    "Tools": ("Cordless Drill", "Tape Measure", "Socket Set", "Utility Knife", "Spirit Level", "Claw Hammer"),
    "Apparel": ("Merino Beanie", "Softshell Jacket", "Running Socks", "Work Gloves", "Canvas Apron"),
}
_BRANDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware", "Woodgrove")
_QUALIFIERS = ("Classic", "Pro", "Compact", "Heavy-Duty", "Eco", "Deluxe", "Everyday", "Travel")
_VARIANTS = ("Black", "Graphite", "Olive", "Navy", "Steel", "Sand", "Large", "Small", "2-Pack", "Set of 4")


def make_item(seq: int, seed: int, created: datetime) -> Item:
    """A new record for sequence number `seq`; fields depend only on `(seed, seq)` and `created`."""
    rng = random.Random(seed * 1_000_003 + seq)
    category = rng.choice(tuple(_NOUNS_BY_CATEGORY))
    name = " ".join((rng.choice(_BRANDS), rng.choice(_QUALIFIERS), rng.choice(_NOUNS_BY_CATEGORY[category])))
    return {
        "item_id": f"4815000000{seq:06d}",
        "sku": f"SKU-{seq:05d}",
        "name": f"{name}, {rng.choice(_VARIANTS)}",
        "rate": rng.randint(199, 49_999) / 100,
        "stock_on_hand": rng.randint(0, 500),
        "status": "active" if rng.random() < 0.9 else "inactive",
        "category": category,
        "last_modified_time": created.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class StoredItem:
    """One item as the server holds it: the record plus its JSON, serialised once."""

    item_id: str
    modified_at: datetime
    record: Item
    json: bytes

    @classmethod
    def of(cls, record: Item) -> StoredItem:
        modified, item_id = record["last_modified_time"], record["item_id"]
        assert isinstance(modified, str) and isinstance(item_id, str)
        return cls(item_id, datetime.fromisoformat(modified), record, orjson.dumps(record))

    @property
    def sort_key(self) -> tuple[datetime, str]:
        """Order for `sort=last_modified_time`: ties on time are broken by id, so the order is total."""
        return (self.modified_at, self.item_id)


def parse_timestamp(value: str) -> datetime:
    """An ISO-8601 timestamp, naive taken as UTC; raises ValueError. A space before the offset is read as
    the `+` an unencoded query string turned into it, so hand-typed URLs just work."""
    text = value.strip()
    if len(text) > 19 and text[-6] == " ":
        text = f"{text[:-6]}+{text[-5:]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def select(
    rows: Iterable[StoredItem], modified_after: datetime | None, by_modified: bool
) -> Sequence[StoredItem]:
    """The rows modified after `modified_after` (all when None), in their order or by `sort_key`."""
    if modified_after is not None:
        rows = (row for row in rows if row.modified_at > modified_after)
    return tuple(sorted(rows, key=lambda row: row.sort_key) if by_modified else rows)


class Items(Protocol):
    """What the endpoints read: the product's `Inventory`, or the test fake API's, which changes."""

    def select(self, modified_after: datetime | None, by_modified: bool) -> Sequence[StoredItem]: ...

    def find(self, item_id: str) -> StoredItem | None: ...


class Inventory:
    """`size` items deterministic from `seed`: item n, created `BASE_TIME` plus n seconds, is the same product
    for the same `(seed, n)`, so the first N items are the same whatever the size."""

    def __init__(self, size: int = 1000, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        seqs = range(1, size + 1)
        self.rows = tuple(StoredItem.of(make_item(n, seed, BASE_TIME + timedelta(seconds=n))) for n in seqs)
        self._by_id = {row.item_id: row for row in self.rows}

    def select(self, modified_after: datetime | None, by_modified: bool) -> Sequence[StoredItem]:
        return select(self.rows, modified_after, by_modified)  # no filter and no sort: `self.rows` itself

    def find(self, item_id: str) -> StoredItem | None:
        return self._by_id.get(item_id)


def read_timestamp(raw: str, param: str) -> datetime:
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise BadRequestError(f"{param} must hold an ISO-8601 timestamp, got {raw!r}", param=param) from None


def read_filter(query: Mapping[str, str]) -> tuple[datetime | None, bool]:
    """`modified_since`, and whether `sort=last_modified_time`; raises BadRequestError for unreadable ones."""
    modified = query.get("modified_since")
    modified_after = None if modified is None else read_timestamp(modified, "modified_since")
    sort = query.get("sort")
    if sort not in (None, "", "last_modified_time"):
        raise BadRequestError(f"cannot sort by {sort!r}; only 'last_modified_time' works", param="sort")
    return modified_after, bool(sort)


def respond_items(request: ApiRequest, items: Items, max_page_size: int = messages.MAX_PAGE_SIZE) -> Response:
    """`GET /inventory/v1/items`: a page of the selection, or the items `item_ids` lists, or a 400."""
    try:
        if "item_ids" in request.query:
            return _listed_items(request.query["item_ids"], items)
        rows = items.select(*read_filter(request.query))
    except BadRequestError as error:
        return messages.bad_request(error)
    return messages.respond_page(request, "items", rows, lambda row: row.json, max_page_size)


def _listed_items(raw_ids: str, items: Items) -> Response:
    ids = [item_id.strip() for item_id in raw_ids.split(",") if item_id.strip()]
    if not ids:
        raise BadRequestError("item_ids must list at least one item id", param="item_ids")
    if len(ids) > MAX_ITEM_IDS:
        raise BadRequestError(f"item_ids lists {len(ids)} ids; at most {MAX_ITEM_IDS}", param="item_ids")
    found = [row for row in map(items.find, dict.fromkeys(ids)) if row is not None]  # unknown ones left out
    fragments = [orjson.Fragment(row.json) for row in found]  # in the order listed
    return messages.zoho_page("items", fragments, 1, len(ids), len(found))
