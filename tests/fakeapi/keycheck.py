"""`/api/keycheck` as tests use it: the product's key check (see `batchsync.sampleapi.keys`), plus keys
that make a whole batch fail.

A key check naming any key in `SampleApiSettings.lookup_fail_keys` gets a 503 on every attempt (logged with
fault "lookup_failed"), once the batch passed the product's own checks (size, well-formed keys).
"""

from __future__ import annotations

from collections.abc import Set

from batchsync.sampleapi import keys
from batchsync.sampleapi.keys import KEYCHECK_PATH, requested_keys
from fakeapi.keys import KeyService
from fakeapi.messages import ApiRequest, Response, json_response

__all__ = ["KEYCHECK_PATH", "LOOKUP_FAILED_FAULT", "requested_keys", "respond_keycheck"]

LOOKUP_FAILED_FAULT = "lookup_failed"


def respond_keycheck(
    request: ApiRequest, service: KeyService, *, max_keys: int, fail_keys: Set[str]
) -> Response:
    """The answer to an authorised GET or POST key check."""
    response = Response.of(keys.respond_keycheck(request, service, max_keys=max_keys))
    if response.status == 200 and any(key in fail_keys for key in requested_keys(request) or ()):
        failed = json_response(503, {"error": "key check backend unavailable"})
        return Response(failed.status, failed.body, fault=LOOKUP_FAILED_FAULT)
    return response
