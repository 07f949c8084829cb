"""The next-URL shape of the inventory, answered like Salesforce's query resource.

`GET /services/data/v59.0/query?q=...&batchSize=200` answers `{"totalSize": 1003, "done": false,
"nextRecordsUrl": "/services/data/v59.0/query/01g000000000000001-200", "records": [...]}` and the relative
`nextRecordsUrl` continues it. As on Salesforce the query's results are fixed when it runs: the locator holds
that snapshot, so later changes to the inventory do not show up in the pages that follow.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from fakeapi.collection import Collection, Endpoint, read_page_size
from fakeapi.dataset import StoredItem
from fakeapi.messages import ApiRequest, BadRequestError, Response, json_response
from fakeapi.query import read_selection

QUERY_PATH = "/services/data/v59.0/query"
_LOCATOR_PREFIX = "01g"
# Salesforce expires idle query cursors too; keeping the newest few hundred bounds memory in long test runs.
_MAX_OPEN_LOCATORS = 256


@dataclass(frozen=True, slots=True)
class _OpenQuery:
    rows: tuple[StoredItem, ...]
    batch_size: int


class QueryLocators:
    """Open query results by locator; thread-safe, numbered so runs are reproducible."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, _OpenQuery] = OrderedDict()
        self._opened = 0

    def open(self, query: _OpenQuery) -> str:
        with self._lock:
            self._opened += 1
            locator = f"{_LOCATOR_PREFIX}{self._opened:015d}"
            self._queries[locator] = query
            while len(self._queries) > _MAX_OPEN_LOCATORS:
                self._queries.popitem(last=False)
            return locator

    def find(self, locator: str) -> _OpenQuery | None:
        with self._lock:
            return self._queries.get(locator)


class NextUrlQuery:
    """The two Salesforce routes, sharing one set of open query locators."""

    def __init__(self) -> None:
        self._locators = QueryLocators()
        self.first = Endpoint(self._respond_first, _salesforce_error)
        self.more = Endpoint(self._respond_more, _salesforce_error)

    def _respond_first(self, request: ApiRequest, collection: Collection) -> Response:
        """Run the query; `batchSize` comes from the parameter or a `Sforce-Query-Options` header."""
        query = request.query
        selection = read_selection(query, is_unknown_q_ignored=True)
        options = dict(
            option.strip().partition("=")[::2]
            for option in (request.header("sforce-query-options") or "").split(",")
            if option.strip()
        )
        batch_size = read_page_size(
            {"batchSize": query.get("batchSize", options.get("batchSize", ""))},
            "batchSize",
            default=200,
            max_page_size=collection.max_page_size,
        )
        open_query = _OpenQuery(collection.view(selection).rows, batch_size)
        locator = self._locators.open(open_query) if len(open_query.rows) > batch_size else None
        return _batch(collection, open_query, locator, 0)

    def _respond_more(self, request: ApiRequest, collection: Collection) -> Response:
        """Continue a query at `/services/data/v59.0/query/<locator>-<offset>`."""
        locator, _, raw_offset = request.path.removeprefix(f"{QUERY_PATH}/").rpartition("-")
        open_query = self._locators.find(locator)
        if open_query is None:
            raise BadRequestError("invalid query locator", param="locator")
        if not raw_offset.isdigit() or int(raw_offset) > len(open_query.rows):
            raise BadRequestError("invalid query locator", param="locator")
        offset = int(raw_offset)
        return _batch(collection, open_query, locator, offset)


def _batch(collection: Collection, open_query: _OpenQuery, locator: str | None, offset: int) -> Response:
    rows = open_query.rows[offset : offset + open_query.batch_size]
    end = offset + len(rows)
    is_done = end >= len(open_query.rows)
    payload: dict[str, object] = {"totalSize": len(open_query.rows), "done": is_done}
    if not is_done:
        payload["nextRecordsUrl"] = f"{QUERY_PATH}/{locator}-{end}"
    payload["records"] = collection.item_fragments(rows)
    return json_response(200, payload, record_count=len(rows))


def _salesforce_error(error: BadRequestError) -> object:
    code = "INVALID_QUERY_LOCATOR" if error.param == "locator" else "MALFORMED_QUERY"
    return [{"message": error.message, "errorCode": code}]
