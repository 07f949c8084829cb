"""What the sample API answers, with no sockets: `server.py` parses bytes into an `ApiRequest`, calls
`dispatch` and writes the `Response`, so every rule about an answer is here or in an endpoint."""

from __future__ import annotations

import sys

from batchsync.sampleapi import accounts, inventory
from batchsync.sampleapi.messages import ApiRequest, Response, json_response


def dispatch(request: ApiRequest, items: inventory.Items, ledgers: accounts.Accounts) -> Response:
    """The answer to `request`, from any thread; a bug shows up as a 500, not as a hung client."""
    try:
        path, account_id = request.path, accounts.transactions_account(request.path)
        if request.method != "GET":
            return method_not_allowed("GET")
        if account_id is not None:
            return accounts.respond_transactions(request, account_id, ledgers)
        if path == inventory.ITEMS_PATH:
            return inventory.respond_items(request, items)
        return json_response(404, {"code": 404, "message": f"no resource at {path}"})
    except Exception as exc:
        return internal_error(request, exc)


def method_not_allowed(allowed: str) -> Response:
    return json_response(405, {"code": 405, "message": "method not allowed"}, headers=(("Allow", allowed),))


def internal_error(request: ApiRequest, exc: Exception) -> Response:
    print(f"sampleapi: error answering {request.method} {request.path}: {exc!r}", file=sys.stderr)
    return json_response(500, {"code": 500, "message": "internal error in the sample API"})
