"""What one sample inventory item looks like: realistic, deterministic fields and how an update alters them.

`dataset.Inventory` owns the collection and its clock; this module only turns a sequence number and a seed
into a Zoho Inventory-like record, so the same `(seed, seq)` always gives the same product.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import TypeAlias

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
Item: TypeAlias = "dict[str, JSONValue]"

ITEM_ID_PREFIX = "4815000000"

# category -> nouns that make sense in it; names read like a real catalogue rather than "Item 17".
_NOUNS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    "Kitchen": ("Chef's Knife", "Cutting Board", "Saucepan", "Water Bottle", "Coffee Grinder", "Mixing Bowl"),
    "Office": ("Desk Lamp", "Notebook", "Stapler", "Monitor Stand", "Desk Organizer", "Whiteboard"),
    "Outdoor": ("Camping Lantern", "Trekking Pole", "Daypack", "Sleeping Mat", "Rain Poncho", "Hammock"),
    "Electronics": ("USB-C Cable", "Wireless Mouse", "Power Bank", "Bluetooth Speaker", "HDMI Adapter"),
    "Tools": ("Cordless Drill", "Tape Measure", "Socket Set", "Utility Knife", "Spirit Level", "Claw Hammer"),
    "Apparel": ("Merino Beanie", "Softshell Jacket", "Running Socks", "Work Gloves", "Canvas Apron"),
}
_CATEGORIES = tuple(_NOUNS_BY_CATEGORY)
_BRANDS = ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware", "Woodgrove")
_QUALIFIERS = ("Classic", "Pro", "Compact", "Heavy-Duty", "Eco", "Deluxe", "Everyday", "Travel")
_VARIANTS = ("Black", "Graphite", "Olive", "Navy", "Steel", "Sand", "Large", "Small", "2-Pack", "Set of 4")
_WAREHOUSES = ("Berlin DC", "Rotterdam Hub", "Austin WH-2", "Singapore Central", "Leeds North")


def item_id_for(seq: int) -> str:
    """The Zoho-style id of item `seq`: a fixed prefix and the six-digit, zero-padded sequence number."""
    return f"{ITEM_ID_PREFIX}{seq:06d}"


def make_item(seq: int, seed: int, created: datetime) -> Item:
    """A new record for sequence number `seq`; fields depend only on `(seed, seq)` and `created`."""
    rng = random.Random(seed * 1_000_003 + seq)
    category = rng.choice(_CATEGORIES)
    name = " ".join((rng.choice(_BRANDS), rng.choice(_QUALIFIERS), rng.choice(_NOUNS_BY_CATEGORY[category])))
    timestamp = created.isoformat()
    return {
        "item_id": item_id_for(seq),
        "sku": f"SKU-{seq:05d}",
        "name": f"{name}, {rng.choice(_VARIANTS)}",
        "rate": rng.randint(199, 49_999) / 100,
        "stock_on_hand": rng.randint(0, 500),
        "status": "active" if rng.random() < 0.9 else "inactive",
        "category": category,
        "unit": "pcs",
        "created_time": timestamp,
        "last_modified_time": timestamp,
        "custom_fields": {"warehouse": rng.choice(_WAREHOUSES), "reorder_level": rng.randint(5, 50)},
    }


def revise_item(record: Item, rng: random.Random, modified: datetime) -> Item:
    """A copy of `record` with a new price and stock level, stamped `modified`.

    Stock always changes, so every revision is a real change a sync must pick up; the original record is
    left untouched because snapshots of the collection may still be serving it.
    """
    stock = record["stock_on_hand"]
    assert isinstance(stock, int)
    delta = rng.choice((-1, 1)) * rng.randint(1, 40)
    new_stock = stock + delta if stock + delta >= 0 else stock + abs(delta)
    return {
        **record,
        "rate": rng.randint(199, 49_999) / 100,
        "stock_on_hand": new_stock,
        "last_modified_time": modified.isoformat(),
    }
