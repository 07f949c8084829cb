"""What the sample API answers, with no sockets: `server.py` parses bytes into an `ApiRequest`, calls
`Dispatcher.handle` and writes the `Response`, so every rule about an answer is here or in an endpoint."""

from __future__ import annotations

import sys

from batchsync.sampleapi import keys, pages
from batchsync.sampleapi.accounts import Accounts, respond_transactions, transactions_account
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response, json_response
from batchsync.sampleapi.pages import Collection, Endpoint, Views


class Dispatcher:
    """Answers one request at a time from any thread; everything it holds is thread-safe."""

    def __init__(self, inventory: Views, key_service: keys.KeyService, accounts: Accounts) -> None:
        self._collection = Collection(inventory)
        self._keys = key_service
        self._accounts = accounts

    def handle(self, request: ApiRequest) -> Response:
        try:
            return self._answer(request)
        except Exception as exc:  # a bug must show up as a 500, not as a hung client
            return internal_error(request, exc)

    def _answer(self, request: ApiRequest) -> Response:
        path = request.path
        if path == keys.KEYCHECK_PATH:
            if request.method not in ("GET", "POST"):
                return method_not_allowed("GET, POST")
            return keys.respond_keycheck(request, self._keys)
        if request.method != "GET":
            return method_not_allowed("GET")
        account_id = transactions_account(path)
        if account_id is not None:
            return respond_transactions(request, account_id, self._accounts, self._collection.max_page_size)
        if path == pages.PAGE_NUMBER_PATH or pages.item_id_in(path) is not None:
            endpoint = pages.PAGE_NUMBER if path == pages.PAGE_NUMBER_PATH else pages.SINGLE_ITEM
            return answer_endpoint(endpoint, request, self._collection)
        if path == "/health":
            return json_response(200, {"status": "ok"})
        return json_response(404, {"code": 404, "message": f"no resource at {path}"})


def answer_endpoint(endpoint: Endpoint, request: ApiRequest, collection: Collection) -> Response:
    """`endpoint`'s answer, or its own 400 when the request's parameters are wrong."""
    try:
        return endpoint.respond(request, collection)
    except BadRequestError as error:
        return json_response(error.status, endpoint.error_payload(error))


def method_not_allowed(allowed: str) -> Response:
    return json_response(405, {"code": 405, "message": "method not allowed"}, headers=(("Allow", allowed),))


def internal_error(request: ApiRequest, exc: Exception) -> Response:
    print(f"sampleapi: error answering {request.method} {request.path}: {exc!r}", file=sys.stderr)
    return json_response(500, {"code": 500, "message": "internal error in the sample API"})
