"""The sample API's request → response logic, with no sockets: routing, auth, latency, faults and the log.

`server.py` parses bytes into an `ApiRequest`, calls `Dispatcher.handle` and writes the `Response`; so every
rule about what the API answers lives here or in the endpoint modules. A collection request passes, in
order: latency, the gate (rate limit, quota), auth, the endpoint (with poison), the fault plan, drift.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from batchsync.sampleapi.auth import UNAUTHORIZED_BODY, challenge_for, is_authorized
from batchsync.sampleapi.collection import Collection, Endpoint
from batchsync.sampleapi.dataset import Inventory
from batchsync.sampleapi.drift import InventoryDrift
from batchsync.sampleapi.limits import Gate
from batchsync.sampleapi.messages import ApiRequest, BadRequestError, Response, json_response
from batchsync.sampleapi.oauth import answer_token_request
from batchsync.sampleapi.requestlog import LoggedRequest, RequestLog
from batchsync.sampleapi.routes import CollectionRoutes
from batchsync.sampleapi.settings import SampleApiSettings
from batchsync.sampleapi.tokens import TokenIssuer

_HOME_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>batchsync sample API</title></head>
<body><h1>batchsync sample API</h1>
<p>An inventory served in six pagination shapes; see <code>batchsync.sampleapi</code>.</p></body></html>
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
    ) -> None:
        self._inventory = inventory
        self._settings = settings
        self._log = log
        self._tokens = tokens
        self._base_url = base_url
        self._routes = CollectionRoutes()
        self._gate = gate if gate is not None else Gate(time.monotonic, time.time)
        self._drift = drift if drift is not None else InventoryDrift(inventory)

    def handle(self, request: ApiRequest) -> Response:
        """The answer to `request`, logged before it is returned so the log never lags the client."""
        try:
            response = self._answer(request)
        except Exception as exc:  # a bug in the sample API must show up as a logged 500, not a hung client
            print(f"sampleapi: error answering {request.method} {request.path}: {exc!r}", file=sys.stderr)
            response = json_response(500, {"code": 500, "message": "internal error in the sample API"})
        self._log.append(
            LoggedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                status=response.status,
                record_count=response.record_count,
                authorization=request.header("authorization"),
                fault=response.fault,
            )
        )
        return response

    def _answer(self, request: ApiRequest) -> Response:
        endpoint = self._routes.find(request.path)
        if endpoint is not None:
            if request.method != "GET":
                return _method_not_allowed("GET")
            return self._answer_collection(request, endpoint)
        if request.path == "/oauth/token":
            if request.method != "POST":
                return _method_not_allowed("POST")
            return answer_token_request(request, self._settings.auth, self._tokens)
        if request.path in ("/", "/health"):
            if request.method != "GET":
                return _method_not_allowed("GET")
            if request.path == "/health":
                return json_response(200, {"status": "ok"})
            return Response(200, _HOME_PAGE, content_type="text/html; charset=utf-8")
        return json_response(404, {"code": 404, "message": f"no resource at {request.path}"})

    def _answer_collection(self, request: ApiRequest, endpoint: Endpoint) -> Response:
        settings = self._settings
        if settings.latency_seconds > 0:
            time.sleep(settings.latency_seconds)
        admission = self._gate.admit(settings.rate_limit_per_second, settings.quota)
        if admission.refusal is not None:
            return admission.refusal
        requirement = settings.auth
        if is_authorized(requirement, request, self._tokens):
            collection = Collection(self._inventory, settings.max_page_size, self._base_url, settings.poison)
            try:
                response = endpoint.respond(request, collection)
            except BadRequestError as error:
                response = json_response(error.status, endpoint.error_payload(error))
        else:
            challenge = challenge_for(requirement)
            headers = (("WWW-Authenticate", challenge),) if challenge is not None else ()
            response = json_response(401, UNAUTHORIZED_BODY, headers=headers)
        response = settings.faults.before_collection_response(request, response)
        if response.status == 200 and response.fault is None:
            # After the page is built, so the change shows from the next request on.
            self._drift.after_page(settings.drift)
        if admission.headers:
            response = dataclasses.replace(response, headers=response.headers + admission.headers)
        return response


def _method_not_allowed(allowed: str) -> Response:
    return json_response(405, {"code": 405, "message": "method not allowed"}, headers=(("Allow", allowed),))
