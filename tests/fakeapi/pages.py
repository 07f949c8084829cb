"""Position-paged shapes of the inventory: offset (Oracle) and Link header (GitHub), beside the product's
page number (Zoho, `batchsync.sampleapi.inventory.respond_items`), and Zoho's read of one item by id.

All three cut a page out of the current view by position, so inserting items at the front makes a client
that pages naively see some items twice; that drift is what the tests built on these shapes look for.
"""

from __future__ import annotations

import urllib.parse

import orjson

from batchsync.sampleapi import inventory
from batchsync.sampleapi.messages import read_int
from fakeapi.collection import Collection, Endpoint, count_pages, read_page_size
from fakeapi.messages import ApiRequest, BadRequestError, Response, json_response


def respond_page_number(request: ApiRequest, collection: Collection) -> Response:
    """`GET /inventory/v1/items`, the product's answer (Zoho), over the collection as this request sees it."""
    return inventory.respond_items(request, collection.items_for(request), collection.max_page_size)


def item_id_in(path: str) -> str | None:
    """The id in `/inventory/v1/items/{item_id}` (URL-decoded), or None when `path` is not such a path."""
    raw_id = path.removeprefix(f"{inventory.ITEMS_PATH}/")
    return urllib.parse.unquote(raw_id) if raw_id not in (path, "") and "/" not in raw_id else None


def respond_single_item(request: ApiRequest, collection: Collection) -> Response:
    """`GET /inventory/v1/items/{item_id}`: `{"code": 0, "message": "success", "item": {...}}` or a 404."""
    row = collection.items_for(request).find(item_id_in(request.path) or "")
    if row is None:
        return json_response(404, {"code": 1002, "message": "Item does not exist."})
    payload = {"code": 0, "message": "success", "item": orjson.Fragment(row.json)}
    return json_response(200, payload, record_count=1)


def respond_offset(request: ApiRequest, collection: Collection) -> Response:
    """`GET /crmRestApi/resources/11.12.1.0/items?offset=0&limit=25`, answered like Oracle REST:

    `{"items": [...], "count": 25, "hasMore": true, "limit": 25, "offset": 0, "totalResults": 1003}`
    """
    query = request.query
    selection = collection.select(query)
    limit = read_page_size(query, "limit", default=25, max_page_size=collection.max_page_size)
    offset = read_int(query, "offset", default=0, minimum=0)
    rows = collection.view(selection).rows
    items = rows[offset : offset + limit]
    payload = {
        "items": collection.item_fragments(items),
        "count": len(items),
        "hasMore": offset + limit < len(rows),
        "limit": limit,
        "offset": offset,
        "totalResults": len(rows),
    }
    return json_response(200, payload, record_count=len(items))


def respond_link_header(request: ApiRequest, collection: Collection) -> Response:
    """`GET /repos/items?page=1&per_page=100`, answered like GitHub: a bare JSON list plus a Link header,

    `Link: <http://127.0.0.1:PORT/repos/items?page=2&per_page=100>; rel="next", <...page=11...>; rel="last"`.
    Like GitHub, links carry every other query parameter, `prev`/`first` appear after page 1, `next`/`last`
    before the last page, and a single page has no Link header at all.
    """
    query = request.query
    selection = collection.select(query)
    per_page = read_page_size(query, "per_page", default=30, max_page_size=collection.max_page_size)
    page = read_int(query, "page", default=1, minimum=1)
    rows = collection.view(selection).rows
    start = (page - 1) * per_page
    items = rows[start : start + per_page]
    last_page = max(count_pages(len(rows), per_page), 1)
    relations: list[tuple[str, int]] = []
    if page > 1:
        relations.append(("prev", min(page - 1, last_page)))
    if page < last_page:
        relations += [("next", page + 1), ("last", last_page)]
    if page > 1:
        relations.append(("first", 1))
    others = {name: value for name, value in query.items() if name not in ("page", "per_page")}
    links = [
        f"<{collection.base_url}{request.path}?"
        f'{urllib.parse.urlencode({"page": number, "per_page": per_page, **others})}>; rel="{relation}"'
        for relation, number in relations
    ]
    headers = (("Link", ", ".join(links)),) if links else ()
    return json_response(200, collection.item_fragments(items), record_count=len(items), headers=headers)


def _oracle_error(error: BadRequestError) -> object:
    return {"title": "Bad Request", "status": "400", "detail": error.message}


def _github_error(error: BadRequestError) -> object:
    return {"message": error.message, "documentation_url": "https://docs.github.com/rest"}


PAGE_NUMBER = Endpoint(respond_page_number)  # the product's endpoints word their own 400s
SINGLE_ITEM = Endpoint(respond_single_item)
OFFSET = Endpoint(respond_offset, _oracle_error)
LINK_HEADER = Endpoint(respond_link_header, _github_error)

__all__ = [
    "LINK_HEADER",
    "OFFSET",
    "PAGE_NUMBER",
    "SINGLE_ITEM",
    "item_id_in",
    "respond_link_header",
    "respond_offset",
]
