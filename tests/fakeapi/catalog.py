"""The fake API's inventory item: the product's (`inventory.make_item`) plus the fields only tests read (a
unit, a creation time and nested custom fields), and how an update alters it."""

from __future__ import annotations

import random
from datetime import datetime

from batchsync.sampleapi import inventory
from batchsync.sampleapi.inventory import Item, JSONValue

__all__ = ["Item", "JSONValue", "make_item", "revise_item"]

_WAREHOUSES = ("Berlin DC", "Rotterdam Hub", "Austin WH-2", "Singapore Central", "Leeds North")


def make_item(seq: int, seed: int, created: datetime) -> Item:
    """The product's item `seq`, with `unit`, `created_time` and `custom_fields` added; still a function of
    `(seed, seq)` and `created` alone."""
    rng = random.Random(f"extras:{seed}:{seq}")
    extras: Item = {
        "unit": "pcs",
        "created_time": created.isoformat(),
        "custom_fields": {"warehouse": rng.choice(_WAREHOUSES), "reorder_level": rng.randint(5, 50)},
    }
    return {**inventory.make_item(seq, seed, created), **extras}


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
