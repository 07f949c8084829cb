"""What every collection endpoint is handed and hands back, whatever its pagination shape.

Each shape module (`pages`, `cursors`, `next_url`) exposes `Endpoint`s: a function from a request and the
`Collection` to a `Response`, plus the error body that API would send for a bad parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from batchsync.sampleapi.dataset import Inventory, InventoryView, StoredItem
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response
from batchsync.sampleapi.poison import poisoned_json
from batchsync.sampleapi.query import Selection


@dataclass(frozen=True, slots=True)
class Collection:
    """The inventory as one request sees it, with the limits and address that shape its answer.

    `poison` (item id -> kind, see `poison.py`) breaks those items wherever a page carries them.
    """

    inventory: Inventory
    max_page_size: int
    base_url: str
    poison: Mapping[str, str] = field(default_factory=dict)

    def view(self, selection: Selection) -> InventoryView:
        return self.inventory.view(selection.modified_after, sort_by_modified=selection.sort_by_modified)

    def item_fragments(self, rows: Sequence[StoredItem]) -> list[orjson.Fragment]:
        """Items as pre-serialised JSON; poisoned items are serialised afresh, broken as their kind says."""
        poison = self.poison
        if not poison:
            return item_fragments(rows)
        fragments = []
        for row in rows:
            kind = poison.get(row.item_id)
            fragments.append(orjson.Fragment(row.json if kind is None else poisoned_json(row.record, kind)))
        return fragments


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
