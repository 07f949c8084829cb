"""Targeted reads of the inventory, as Zoho offers them: one item by id, and a list of items by their ids.

A targeted sync refreshes only the items it names, so these answers come from the same inventory, with the
same poison, as the paged shapes in `pages.py`; they are routed by `routes.CollectionRoutes` and pass
through the same gate, auth and fault plan as every collection request.
"""

from __future__ import annotations

import urllib.parse

from batchsync.sampleapi.collection import Collection, Endpoint
from batchsync.sampleapi.dataset import StoredItem
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response, json_response

MAX_ITEM_IDS = 200
"""The most ids one `?item_ids=` request may list, as Zoho caps its bulk reads."""

ITEM_NOT_FOUND_BODY = {"code": 1002, "message": "Item does not exist."}


def respond_single_item(request: ApiRequest, collection: Collection) -> Response:
    """`GET /inventory/v1/items/{item_id}`: `{"code": 0, "message": "success", "item": {...}}`, or a 404
    with `{"code": 1002, "message": "Item does not exist."}` when no item has that id."""
    _, _, raw_id = request.path.rpartition("/")
    rows = _rows_for(collection, [urllib.parse.unquote(raw_id)])
    if not rows:
        return json_response(404, ITEM_NOT_FOUND_BODY)
    (item,) = collection.item_fragments(rows)
    return json_response(200, {"code": 0, "message": "success", "item": item}, record_count=1)


def respond_listed_items(request: ApiRequest, collection: Collection) -> Response:
    """`GET /inventory/v1/items?item_ids=ID1,ID2,...`: the page-number shape holding just those items,

    `{"code": 0, "message": "success", "items": [...], "page_context": {"page": 1, "per_page": 2,
    "has_more_page": false, "total": 2, "total_pages": 1}}`

    Items come in the order their ids were listed, each once; unknown ids are silently absent. Paging and
    filter parameters are ignored. Raises BadRequestError (a 400) for no ids or more than `MAX_ITEM_IDS`.
    """
    ids = [item_id.strip() for item_id in request.query.get("item_ids", "").split(",") if item_id.strip()]
    if not ids:
        raise BadRequestError("item_ids must list at least one item id", param="item_ids")
    if len(ids) > MAX_ITEM_IDS:
        raise BadRequestError(
            f"item_ids lists {len(ids)} ids; at most {MAX_ITEM_IDS} allowed", param="item_ids"
        )
    rows = _rows_for(collection, list(dict.fromkeys(ids)))
    page_context = {
        "page": 1,
        "per_page": len(ids),
        "has_more_page": False,
        "total": len(rows),
        "total_pages": 1 if rows else 0,
    }
    payload = {
        "code": 0,
        "message": "success",
        "items": collection.item_fragments(rows),
        "page_context": page_context,
    }
    return json_response(200, payload, record_count=len(rows))


def _rows_for(collection: Collection, ids: list[str]) -> list[StoredItem]:
    # The unfiltered view is cached until the inventory changes, and its positions make each id one lookup.
    view = collection.inventory.view(None, sort_by_modified=False)
    positions = (view.position_of(item_id) for item_id in ids)
    return [view.rows[position] for position in positions if position is not None]


def _zoho_error(error: BadRequestError) -> object:
    return {"code": 2, "message": error.message}


SINGLE_ITEM = Endpoint(respond_single_item, _zoho_error)
