"""Cursor-paged shapes of the inventory: Stripe's `starting_after` and an opaque cursor in the body.

Both name the last item delivered rather than a position, so inserting items at the front does not shift
what the next page holds.
"""

from __future__ import annotations

import base64
import bisect
from datetime import datetime

import orjson

from fakeapi.collection import Collection, Endpoint, read_page_size
from fakeapi.dataset import InventoryView, StoredItem, parse_timestamp
from fakeapi.messages import ApiRequest, BadRequestError, Response, json_response
from fakeapi.query import Selection

_CURSOR_VERSION = 1


def respond_starting_after(request: ApiRequest, collection: Collection) -> Response:
    """`GET /v1/items?limit=100&starting_after=<item_id>`, answered like Stripe:

    `{"object": "list", "url": "/v1/items", "has_more": true, "data": [...]}`; the page holds the items
    after `starting_after` in the current order, and an id not in that order is a 400 as on Stripe.
    """
    query = request.query
    selection = collection.select(query)
    limit = read_page_size(query, "limit", default=10, max_page_size=collection.max_page_size)
    view = collection.view(selection)
    start = 0
    after = query.get("starting_after")
    if after:
        position = view.position_of(after)
        if position is None:
            raise BadRequestError(f"No such item: '{after}'", param="starting_after")
        start = position + 1
    items = view.rows[start : start + limit]
    payload = {
        "object": "list",
        "url": request.path,
        "has_more": start + limit < len(view.rows),
        "data": collection.item_fragments(items),
    }
    return json_response(200, payload, record_count=len(items))


def respond_body_cursor(request: ApiRequest, collection: Collection) -> Response:
    """`GET /api/items?limit=100&cursor=<opaque>`, answering `{"items": [...], "next_cursor": "..." | null}`.

    The cursor carries the filter and sort of the first request, so later pages ignore those parameters,
    as APIs with opaque cursors do. Sorted by modification time it is a keyset cursor and survives any
    change; in collection order it names the last item, and that item's deletion makes it a 400.
    """
    query = request.query
    limit = read_page_size(query, "limit", default=100, max_page_size=collection.max_page_size)
    encoded = query.get("cursor")
    if encoded:
        selection, after = _decode_cursor(encoded)
        view = collection.view(selection)
        start = _start_after(view, after)
    else:
        selection = collection.select(query)
        view = collection.view(selection)
        start = 0
    items = view.rows[start : start + limit]
    has_more = start + limit < len(view.rows)
    next_cursor = _encode_cursor(selection, items[-1]) if has_more else None
    payload = {"items": collection.item_fragments(items), "next_cursor": next_cursor}
    return json_response(200, payload, record_count=len(items))


def _encode_cursor(selection: Selection, last: StoredItem) -> str:
    modified_after = selection.modified_after.isoformat() if selection.modified_after is not None else None
    state = {
        "v": _CURSOR_VERSION,
        "modified_after": modified_after,
        "sort": selection.sort_by_modified,
        "after_id": last.item_id,
        "after_time": last.modified_at.isoformat(),
    }
    return base64.urlsafe_b64encode(orjson.dumps(state)).rstrip(b"=").decode("ascii")


def _decode_cursor(encoded: str) -> tuple[Selection, tuple[datetime, str]]:
    """The selection and the (modified time, id) of the last item delivered; raises BadRequestError."""
    try:
        state = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        if not isinstance(state, dict) or state.get("v") != _CURSOR_VERSION:
            raise ValueError("not a cursor of this API")
        modified_after = state["modified_after"]
        sort, after_id, after_time = state["sort"], state["after_id"], state["after_time"]
        if not (isinstance(sort, bool) and isinstance(after_id, str) and isinstance(after_time, str)):
            raise ValueError("cursor fields have the wrong types")
        selection = Selection(
            parse_timestamp(modified_after) if isinstance(modified_after, str) else None, sort
        )
        return selection, (parse_timestamp(after_time), after_id)
    except (ValueError, KeyError, TypeError):  # binascii.Error and JSONDecodeError are ValueErrors
        raise BadRequestError("cursor is invalid", param="cursor") from None


def _start_after(view: InventoryView, after: tuple[datetime, str]) -> int:
    if view.is_sorted_by_modified:
        return bisect.bisect_right(view.rows, after, key=lambda row: row.sort_key)
    position = view.position_of(after[1])
    if position is None:
        raise BadRequestError("cursor refers to an item that no longer exists", param="cursor")
    return position + 1


def _stripe_error(error: BadRequestError) -> object:
    kind = {"code": "resource_missing"} if error.param == "starting_after" else {}
    return {
        "error": {**kind, "message": error.message, "param": error.param, "type": "invalid_request_error"}
    }


def _plain_error(error: BadRequestError) -> object:
    return {"error": error.message}


STARTING_AFTER = Endpoint(respond_starting_after, _stripe_error)
BODY_CURSOR = Endpoint(respond_body_cursor, _plain_error)
