"""The sample inventory: deterministic, Zoho Inventory-like items, and the views endpoints page through.

Time is a logical clock: item n of `Inventory(size, seed)` is created at `BASE_TIME` plus n seconds, and the
same `(seed, n)` always gives the same product. A `Snapshot` never changes, so a page is always cut from one
consistent version of the collection (a collection that changes is a series of snapshots).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

import orjson

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
Item: TypeAlias = "dict[str, JSONValue]"

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
_MAX_CACHED_VIEWS = 32  # per (filter, sort); a handful covers every client
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
_WAREHOUSES = ("Berlin DC", "Rotterdam Hub", "Austin WH-2", "Singapore Central", "Leeds North")


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
        "unit": "pcs",
        "created_time": created.isoformat(),
        "last_modified_time": created.isoformat(),
        "custom_fields": {"warehouse": rng.choice(_WAREHOUSES), "reorder_level": rng.randint(5, 50)},
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


@dataclass(frozen=True, slots=True)
class InventoryView:
    """An immutable selection of the collection, in the order a client pages through it."""

    rows: tuple[StoredItem, ...]
    positions: Mapping[str, int]
    is_sorted_by_modified: bool

    def position_of(self, item_id: str) -> int | None:
        return self.positions.get(item_id)


def parse_timestamp(value: str) -> datetime:
    """An ISO-8601 timestamp, naive taken as UTC; raises ValueError. A space before the offset is read as
    the `+` an unencoded query string turned into it, so hand-typed URLs just work."""
    text = value.strip()
    if len(text) > 19 and text[-6] == " ":
        text = f"{text[:-6]}+{text[-5:]}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class Snapshot:
    """Items in collection order, never changed, with the views over them cached; thread-safe."""

    def __init__(self, rows: Sequence[StoredItem]) -> None:
        self.rows = tuple(rows)
        self._lock = threading.Lock()
        self._views: dict[tuple[datetime | None, bool], InventoryView] = {}

    def view(self, modified_after: datetime | None, *, sort_by_modified: bool) -> InventoryView:
        """The items modified after `modified_after` (all when None), optionally by modification time."""
        key = (modified_after, sort_by_modified)
        with self._lock:
            if key in self._views:
                return self._views[key]
            rows: Iterable[StoredItem] = self.rows
            if modified_after is not None:
                rows = (row for row in rows if row.modified_at > modified_after)
            selected = tuple(sorted(rows, key=lambda row: row.sort_key) if sort_by_modified else rows)
            if len(self._views) >= _MAX_CACHED_VIEWS:
                self._views.clear()
            positions = {row.item_id: index for index, row in enumerate(selected)}
            view = self._views[key] = InventoryView(selected, positions, sort_by_modified)
            return view


class Inventory(Snapshot):
    """`size` items deterministic from `seed`; its first N items are the same whatever its size."""

    def __init__(self, size: int = 1000, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        seqs = range(1, size + 1)
        super().__init__([StoredItem.of(make_item(n, seed, BASE_TIME + timedelta(seconds=n))) for n in seqs])
