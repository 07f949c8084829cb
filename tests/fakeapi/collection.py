"""What every collection endpoint of the fake API is handed: the inventory as one request sees it, with what
only tests need: the page size limit of the settings, the server's address (for absolute Link headers),
poison records (see `poison.py`) and the `q` filter (see `query.py`).

Each shape module (`pages`, `cursors`, `next_url`) exposes `Endpoint`s: a function from a request and the
`Collection` to a `Response`, plus the error body that API would send for a bad parameter. The product's own
endpoints (page number, one item) are handed `Collection.items_for(request)`, the product's `Items`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from batchsync.sampleapi.inventory import StoredItem
from batchsync.sampleapi.messages import MAX_PAGE_SIZE, read_int
from fakeapi.dataset import Inventory, InventoryView
from fakeapi.messages import ApiRequest, BadRequestError, Response, json_response
from fakeapi.poison import poisoned_json
from fakeapi.query import Selection, Window, narrow, read_selection, read_window

__all__ = ["Collection", "Endpoint", "answer_endpoint", "count_pages", "read_page_size"]


@dataclass(frozen=True, slots=True)
class Collection:
    """The inventory as one request sees it; `poison` (item id -> kind) breaks those items wherever a
    page carries them."""

    inventory: Inventory
    max_page_size: int = MAX_PAGE_SIZE
    base_url: str = ""
    poison: Mapping[str, str] = field(default_factory=dict)

    def select(self, query: Mapping[str, str]) -> Selection:
        """Which items `query` pages through, an Oracle-style `q` included (see `query.py`)."""
        return read_selection(query)

    def view(self, selection: Selection) -> InventoryView:
        return self.inventory.view(selection.modified_after, sort_by_modified=selection.sort_by_modified)

    def item_fragments(self, rows: Sequence[StoredItem]) -> list[orjson.Fragment]:
        """Items as pre-serialised JSON; poisoned items are serialised afresh, broken as their kind says."""
        return [orjson.Fragment(row.json) for row in self.poisoned(rows)]

    def poisoned(self, rows: Sequence[StoredItem]) -> Sequence[StoredItem]:
        """`rows`, the poisoned ones replaced by a copy whose JSON is broken as their kind says."""
        poison = self.poison
        if not poison or not any(row.item_id in poison for row in rows):
            return rows
        return [_poisoned(row, poison[row.item_id]) if row.item_id in poison else row for row in rows]

    def items_for(self, request: ApiRequest) -> QueriedItems:
        """The collection as the product's endpoints read it for `request`: narrowed by its `q` and its
        window (`modified_from`, `modified_before`), poisoned. A bad window is a 400 (BadRequestError)."""
        return QueriedItems(self, request.query.get("q"), read_window(request.query))


@dataclass(frozen=True, slots=True)
class QueriedItems:
    """The product's `Items` for one request; a bad `q` raises BadRequestError when the items are selected,
    after the product read its own filter, as the endpoint reads its parameters in that order."""

    collection: Collection
    q: str | None
    window: Window = field(default_factory=Window)

    def select(self, modified_after: datetime | None, by_modified: bool) -> Sequence[StoredItem]:
        selection = narrow(Selection(modified_after, by_modified), self.q)
        rows = self.collection.view(selection).rows
        if self.window.is_bounded:
            rows = tuple(row for row in rows if self.window.admits(row.modified_at))
        return self.collection.poisoned(rows)

    def find(self, item_id: str) -> StoredItem | None:
        row = self.collection.inventory.find(item_id)
        return None if row is None else self.collection.poisoned([row])[0]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One way of answering, and how it words a 400 (each real API has its own; None for an endpoint that
    answers its own, as the product's do)."""

    respond: Callable[[ApiRequest, Collection], Response]
    error_payload: Callable[[BadRequestError], object] | None = None


def answer_endpoint(endpoint: Endpoint, request: ApiRequest, collection: Collection) -> Response:
    """`endpoint`'s answer, or its own 400 when the request's parameters are wrong."""
    try:
        return Response.of(endpoint.respond(request, collection))
    except BadRequestError as error:
        if endpoint.error_payload is None:
            raise
        return json_response(400, endpoint.error_payload(error))


def read_page_size(query: Mapping[str, str], name: str, *, default: int, max_page_size: int) -> int:
    """Page size parameter `name`, `default` when absent; raises BadRequestError outside 1..max_page_size."""
    return read_int(query, name, default=min(default, max_page_size), minimum=1, maximum=max_page_size)


def count_pages(total: int, page_size: int) -> int:
    return -(-total // page_size)


def _poisoned(row: StoredItem, kind: str) -> StoredItem:
    return StoredItem(row.item_id, row.modified_at, row.record, poisoned_json(row.record, kind))
