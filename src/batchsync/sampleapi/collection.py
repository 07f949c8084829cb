"""What every collection endpoint is handed and hands back, whatever its pagination shape.

Each shape module (`pages`, `cursors`, `next_url`) exposes `Endpoint`s: a function from a request and the
`Collection` to a `Response`, plus the error body that API would send for a bad parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from batchsync.sampleapi.dataset import Inventory, InventoryView, StoredItem
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response
from batchsync.sampleapi.query import Selection


@dataclass(frozen=True, slots=True)
class Collection:
    """The inventory as one request sees it, with the limits and address that shape its answer."""

    inventory: Inventory
    max_page_size: int
    base_url: str

    def view(self, selection: Selection) -> InventoryView:
        return self.inventory.view(selection.modified_after, sort_by_modified=selection.sort_by_modified)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One pagination shape: how it answers, and how it words a 400 (each real API has its own)."""

    respond: Callable[[ApiRequest, Collection], Response]
    error_payload: Callable[[BadRequestError], object]


def item_fragments(rows: Sequence[StoredItem]) -> list[orjson.Fragment]:
    """Items as pre-serialised JSON, so a page costs one join instead of serialising every record again."""
    return [orjson.Fragment(row.json) for row in rows]


def count_pages(total: int, page_size: int) -> int:
    """Pages needed for `total` items; an empty collection has zero pages."""
    return -(-total // page_size)
