"""Which collection endpoint answers which path: the fake API's route table.

Every pagination shape serves the same inventory, so a sync test can switch shapes by switching URLs; the
targeted reads (one item by id, a list by ids) serve it too.
"""

from __future__ import annotations

from batchsync.sampleapi.inventory import ITEMS_PATH
from fakeapi import cursors, pages
from fakeapi.collection import Endpoint
from fakeapi.next_url import QUERY_PATH, NextUrlQuery

OFFSET_PATH = "/crmRestApi/resources/11.12.1.0/items"
STARTING_AFTER_PATH = "/v1/items"
BODY_CURSOR_PATH = "/api/items"
LINK_HEADER_PATH = "/repos/items"
NEXT_URL_PATH = QUERY_PATH


class CollectionRoutes:
    """Path -> endpoint; one instance per server, because Salesforce query locators are server state."""

    def __init__(self) -> None:
        next_url = NextUrlQuery()
        self._continuation = next_url.more
        self._exact: dict[str, Endpoint] = {
            ITEMS_PATH: pages.PAGE_NUMBER,
            OFFSET_PATH: pages.OFFSET,
            STARTING_AFTER_PATH: cursors.STARTING_AFTER,
            BODY_CURSOR_PATH: cursors.BODY_CURSOR,
            LINK_HEADER_PATH: pages.LINK_HEADER,
            NEXT_URL_PATH: next_url.first,
        }

    def find(self, path: str) -> Endpoint | None:
        """The endpoint for `path`, or None when it is not a collection path."""
        endpoint = self._exact.get(path)
        if endpoint is None and path.startswith(f"{NEXT_URL_PATH}/"):
            return self._continuation
        if endpoint is None and pages.item_id_in(path) is not None:
            return pages.SINGLE_ITEM
        return endpoint
