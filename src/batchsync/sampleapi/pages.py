"""The inventory endpoint, answered like Zoho Inventory: pages by page number, one item, or items by id.

GET /inventory/v1/items?page=1&per_page=200      also ?modified_since=<ISO-8601>, ?sort=last_modified_time
    {"code": 0, "message": "success", "items": [...], "page_context": {"page": 1, "per_page": 200,
     "has_more_page": true, "total": 1003, "total_pages": 6}}
GET /inventory/v1/items?item_ids=ID1,ID2         the same shape, holding just those items
GET /inventory/v1/items/{item_id}                {"code": 0, "message": "success", "item": {...}}
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson

from batchsync.sampleapi.inventory import InventoryView, StoredItem, parse_timestamp
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response, json_response

PAGE_NUMBER_PATH = "/inventory/v1/items"
MAX_ITEM_IDS = 200  # as Zoho caps its bulk reads


@dataclass(frozen=True, slots=True)
class Selection:
    """Which items a request pages through, and in what order."""

    modified_after: datetime | None = None
    sort_by_modified: bool = False


def read_selection(query: Mapping[str, str]) -> Selection:
    """The selection named by `modified_since` and `sort`; raises BadRequestError for an unreadable one."""
    modified_after = (
        read_timestamp(query["modified_since"], "modified_since") if "modified_since" in query else None
    )
    if query.get("sort") not in (None, "", "last_modified_time"):
        raise BadRequestError(
            f"cannot sort by {query['sort']!r}; only 'last_modified_time' works", param="sort"
        )
    return Selection(modified_after, query.get("sort") == "last_modified_time")


def read_timestamp(raw: str, param: str) -> datetime:
    try:
        return parse_timestamp(raw)
    except ValueError:
        raise BadRequestError(f"{param} must hold an ISO-8601 timestamp, got {raw!r}", param=param) from None


def read_int(query: Mapping[str, str], name: str, *, default: int, minimum: int) -> int:
    """Integer parameter `name`, or `default` when absent; raises BadRequestError below `minimum`."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, got {raw!r}", param=name) from None
    if value < minimum:
        raise BadRequestError(f"{name} must be >= {minimum}, got {value}", param=name)
    return value


def read_page_size(query: Mapping[str, str], name: str, *, default: int, max_page_size: int) -> int:
    """Page size parameter `name`; raises BadRequestError outside 1..max_page_size."""
    value = read_int(query, name, default=min(default, max_page_size), minimum=1)
    if value > max_page_size:
        raise BadRequestError(f"{name} must be <= {max_page_size}, got {value}", param=name)
    return value


class Views(Protocol):
    def view(self, modified_after: datetime | None, *, sort_by_modified: bool) -> InventoryView: ...


@dataclass(frozen=True, slots=True)
class Collection:
    """The inventory as one request sees it, with the page size limit that shapes its answer."""

    inventory: Views
    max_page_size: int = 1000

    def select(self, query: Mapping[str, str]) -> Selection:
        """Which items `query` pages through (the test fake API's collection also reads a `q` filter)."""
        return read_selection(query)

    def view(self, selection: Selection) -> InventoryView:
        return self.inventory.view(selection.modified_after, sort_by_modified=selection.sort_by_modified)

    def item_fragments(self, rows: Sequence[StoredItem]) -> list[orjson.Fragment]:
        """Items as pre-serialised JSON, so a page costs one join instead of serialising each record again."""
        return [orjson.Fragment(row.json) for row in rows]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One way of answering, and how it words a 400 (each real API has its own)."""

    respond: Callable[[ApiRequest, Collection], Response]
    error_payload: Callable[[BadRequestError], object]


def count_pages(total: int, page_size: int) -> int:
    return -(-total // page_size)


def zoho_page(name: str, records: list[orjson.Fragment], page: int, per_page: int, total: int) -> Response:
    """`records` under `name`, with the `page_context` of page `page` of `total` records."""
    more = page * per_page < total
    pages = count_pages(total, per_page)
    context = {
        "page": page,
        "per_page": per_page,
        "has_more_page": more,
        "total": total,
        "total_pages": pages,
    }
    payload = {"code": 0, "message": "success", name: records, "page_context": context}
    return json_response(200, payload, record_count=len(records))


def respond_page_number(request: ApiRequest, collection: Collection) -> Response:
    query = request.query
    if "item_ids" in query:
        ids = [item_id.strip() for item_id in query["item_ids"].split(",") if item_id.strip()]
        if not 0 < len(ids) <= MAX_ITEM_IDS:
            message = f"item_ids lists {len(ids)} ids; at most {MAX_ITEM_IDS} allowed"
            raise BadRequestError(
                message if ids else "item_ids must list at least one item id", param="item_ids"
            )
        listed = _rows_for(collection, list(dict.fromkeys(ids)))  # in the order listed, unknown ids left out
        return zoho_page("items", collection.item_fragments(listed), 1, len(ids), len(listed))  # one page
    selection = collection.select(query)
    per_page = read_page_size(query, "per_page", default=200, max_page_size=collection.max_page_size)
    page = read_int(query, "page", default=1, minimum=1)
    rows = collection.view(selection).rows
    items = collection.item_fragments(rows[(page - 1) * per_page : page * per_page])
    return zoho_page("items", items, page, per_page, len(rows))


def item_id_in(path: str) -> str | None:
    """The id in `/inventory/v1/items/{item_id}` (URL-decoded), or None when `path` is not such a path."""
    raw_id = path.removeprefix(f"{PAGE_NUMBER_PATH}/")
    return urllib.parse.unquote(raw_id) if raw_id not in (path, "") and "/" not in raw_id else None


def respond_single_item(request: ApiRequest, collection: Collection) -> Response:
    rows = _rows_for(collection, [item_id_in(request.path) or ""])
    if not rows:
        return json_response(404, {"code": 1002, "message": "Item does not exist."})
    (item,) = collection.item_fragments(rows)
    return json_response(200, {"code": 0, "message": "success", "item": item}, record_count=1)


def zoho_error(error: BadRequestError) -> object:
    return {"code": 2, "message": error.message}


def _rows_for(collection: Collection, ids: list[str]) -> list[StoredItem]:
    view = collection.view(Selection())  # cached, and its positions make each id one lookup
    return [view.rows[position] for position in map(view.position_of, ids) if position is not None]


PAGE_NUMBER = Endpoint(respond_page_number, zoho_error)
SINGLE_ITEM = Endpoint(respond_single_item, zoho_error)
