"""The fake API's request → response logic, with no sockets: routing, auth, latency, faults and the log.

`server.py` parses bytes into an `ApiRequest`, calls `Dispatcher.handle` and writes the `Response`; so every
rule about what the API answers lives here or in the endpoint modules. A collection request passes, in
order: latency, the gate (rate limit, quota), auth, the endpoint (with poison), the fault plan, drift.

The key-check service and the accounts endpoints are data requests too and take the same path, except that
they never cause drift (it changes the inventory) and that an account's transactions are guarded by that
account's own token instead of `settings.auth`. Only `/`, `/health` and `/oauth/token` bypass it all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from batchsync.sampleapi.dispatch import internal_error, method_not_allowed
from fakeapi import account_pages, keycheck
from fakeapi.accounts import Accounts
from fakeapi.auth import challenge_for, is_authorized, unauthorized
from fakeapi.collection import Collection, Endpoint, answer_endpoint
from fakeapi.dataset import Inventory
from fakeapi.drift import InventoryDrift
from fakeapi.keys import KeyService
from fakeapi.limits import Gate
from fakeapi.messages import ApiRequest, Response, json_response
from fakeapi.oauth import answer_token_request
from fakeapi.requestlog import LoggedRequest, RequestLog
from fakeapi.routes import CollectionRoutes
from fakeapi.settings import SampleApiSettings
from fakeapi.tokens import TokenIssuer

_HOME_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>batchsync sample API</title></head>
<body><h1>batchsync sample API</h1>
<p>An inventory served in six pagination shapes; see <code>tests/fakeapi</code>.</p></body></html>
"""


class Dispatcher:
    """Answers one request at a time from any thread; everything it shares is thread-safe."""

    def __init__(
        self,
        inventory: Inventory,
        settings: SampleApiSettings,
        log: RequestLog,
        tokens: TokenIssuer,
        base_url: str,
        *,
        gate: Gate | None = None,
        drift: InventoryDrift | None = None,
        keys: KeyService | None = None,
        accounts: Accounts | None = None,
    ) -> None:
        self._inventory = inventory
        self._settings = settings
        self._log = log
        self._tokens = tokens
        self._base_url = base_url
        self._routes = CollectionRoutes()
        self._gate = gate if gate is not None else Gate(time.monotonic, time.time)
        self._drift = drift if drift is not None else InventoryDrift(inventory)
        self._keys = keys if keys is not None else KeyService()
        self._accounts = accounts if accounts is not None else Accounts()

    def handle(self, request: ApiRequest) -> Response:
        """The answer to `request`, logged before it is returned so the log never lags the client."""
        received_at = time.monotonic()
        try:
            response = Response.of(self._answer(request))
        except Exception as exc:  # a bug in the fake API must show up as a logged 500, not a hung client
            response = Response.of(internal_error(request, exc))
        self._log.append(
            LoggedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                status=response.status,
                record_count=response.record_count,
                authorization=request.header("authorization"),
                fault=response.fault,
                body=_loggable_body(request),
                key_count=_key_count(request),
                received_at=received_at,
            )
        )
        return response

    def _answer(self, request: ApiRequest) -> Response:
        endpoint = self._routes.find(request.path)
        if endpoint is not None:
            if request.method != "GET":
                return method_not_allowed("GET")
            return self._guarded(
                request,
                lambda settings: self._answer_collection(request, endpoint, settings),
                is_inventory_page=True,
            )
        if request.path == keycheck.KEYCHECK_PATH:
            if request.method not in ("GET", "POST"):
                return method_not_allowed("GET, POST")
            return self._guarded(request, lambda settings: self._answer_keycheck(request, settings))
        account_id = account_pages.transactions_account(request.path)
        if request.path == account_pages.ACCOUNTS_PATH or account_id is not None:
            if request.method != "GET":
                return method_not_allowed("GET")
            return self._guarded(
                request, lambda settings: self._answer_accounts(request, account_id, settings)
            )
        if request.path == "/oauth/token":
            if request.method != "POST":
                return method_not_allowed("POST")
            return answer_token_request(request, self._settings.auth, self._tokens)
        if request.path in ("/", "/health"):
            if request.method != "GET":
                return method_not_allowed("GET")
            if request.path == "/health":
                return json_response(200, {"status": "ok"})
            return Response(200, _HOME_PAGE, content_type="text/html; charset=utf-8")
        return json_response(404, {"code": 404, "message": f"no resource at {request.path}"})

    def _guarded(
        self,
        request: ApiRequest,
        answer: Callable[[SampleApiSettings], Response],
        *,
        is_inventory_page: bool = False,
    ) -> Response:
        """`answer` behind latency and the gate, then handed to the fault plan; see the module docstring."""
        settings = self._settings
        if settings.latency_seconds > 0:
            time.sleep(settings.latency_seconds)
        admission = self._gate.admit(settings.rate_limit_per_second, settings.quota)
        if admission.refusal is not None:
            return admission.refusal
        response = settings.faults.before_collection_response(request, Response.of(answer(settings)))
        if is_inventory_page and response.status == 200 and response.fault is None:
            # After the page is built, so the change shows from the next request on.
            self._drift.after_page(settings.drift)
        if admission.headers:
            response = dataclasses.replace(response, headers=response.headers + admission.headers)
        return response

    def _answer_collection(
        self, request: ApiRequest, endpoint: Endpoint, settings: SampleApiSettings
    ) -> Response:
        refusal = self._refuse_unauthorized(request, settings)
        if refusal is not None:
            return refusal
        collection = Collection(self._inventory, settings.max_page_size, self._base_url, settings.poison)
        return Response.of(answer_endpoint(endpoint, request, collection))

    def _answer_keycheck(self, request: ApiRequest, settings: SampleApiSettings) -> Response:
        refusal = self._refuse_unauthorized(request, settings)
        if refusal is not None:
            return refusal
        return keycheck.respond_keycheck(
            request, self._keys, max_keys=settings.lookup_max_keys, fail_keys=settings.lookup_fail_keys
        )

    def _answer_accounts(
        self, request: ApiRequest, account_id: str | None, settings: SampleApiSettings
    ) -> Response:
        if account_id is not None:
            return account_pages.respond_transactions(
                request,
                account_id,
                self._accounts,
                max_page_size=settings.max_page_size,
                revoked=settings.revoked_accounts,
            )
        refusal = self._refuse_unauthorized(request, settings)
        if refusal is not None:
            return refusal
        return account_pages.respond_directory(request, self._accounts, max_page_size=settings.max_page_size)

    def _refuse_unauthorized(self, request: ApiRequest, settings: SampleApiSettings) -> Response | None:
        """A 401 when `request` does not satisfy `settings.auth`, None when it may go on."""
        requirement = settings.auth
        if is_authorized(requirement, request, self._tokens):
            return None
        return unauthorized(challenge_for(requirement))


def _loggable_body(request: ApiRequest) -> str | None:
    if not request.body or request.path == "/oauth/token":  # a token request's form holds client secrets
        return None
    return request.body.decode("utf-8", "replace")


def _key_count(request: ApiRequest) -> int | None:
    if request.path != keycheck.KEYCHECK_PATH:
        return None
    keys = keycheck.requested_keys(request)
    return None if keys is None else len(keys)
