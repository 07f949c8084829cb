"""What every collection endpoint of the fake API is handed: the product's `Collection` with what only tests
need: the server's address (for absolute Link headers), poison records (see `poison.py`) and the `q` filter.

Each shape module (`pages`, `cursors`, `next_url`) exposes `Endpoint`s, the product's: a function from a
request and the `Collection` to a `Response`, plus the error body that API would send for a bad parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from batchsync.sampleapi import pages
from batchsync.sampleapi.inventory import StoredItem
from batchsync.sampleapi.pages import Endpoint, Selection, count_pages
from fakeapi.poison import poisoned_json
from fakeapi.query import read_selection

__all__ = ["Collection", "Endpoint", "count_pages"]


@dataclass(frozen=True, slots=True)
class Collection(pages.Collection):
    """The inventory as one request sees it; `poison` (item id -> kind) breaks those items wherever a
    page carries them."""

    base_url: str = ""
    poison: Mapping[str, str] = field(default_factory=dict)

    def select(self, query: Mapping[str, str]) -> Selection:
        """Which items `query` pages through, an Oracle-style `q` included (see `query.py`)."""
        return read_selection(query)

    def item_fragments(self, rows: Sequence[StoredItem]) -> list[orjson.Fragment]:
        """Items as pre-serialised JSON; poisoned items are serialised afresh, broken as their kind says."""
        poison = self.poison
        if not poison:
            return pages.Collection.item_fragments(self, rows)
        fragments = []
        for row in rows:
            kind = poison.get(row.item_id)
            fragments.append(orjson.Fragment(row.json if kind is None else poisoned_json(row.record, kind)))
        return fragments
