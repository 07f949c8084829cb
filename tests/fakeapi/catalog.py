"""How an update alters a sample inventory item; the item itself is the product's (`make_item`)."""

from __future__ import annotations

import random
from datetime import datetime

from batchsync.sampleapi.inventory import Item, JSONValue, make_item

__all__ = ["Item", "JSONValue", "make_item", "revise_item"]


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
