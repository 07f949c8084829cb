"""`/api/keycheck`: the key-check lookup service a lookup sync asks about batches of keys from its own table.

Two forms, one answer:

    GET  /api/keycheck?keys=K1,K2,...
    POST /api/keycheck            {"keys": ["K1", "K2", ...]}
    200  [{"keyname_with_dash": "K1", "prd": "Office 2021 Pro", "remaining": 17, "blocked": 0,
           "errorcode": ""}, ...]

One answer per distinct known key, in the order asked; unknown but well-formed keys are simply absent. The
service is strict about the batch as a whole, which is what makes a client split batches to isolate a bad
key: more than `lookup_max_keys` keys is a 400 `{"error": "too many keys: 51 > 50"}`, one malformed key a
400 `{"error": "invalid key: <key>"}`, and one key in `lookup_fail_keys` a 503 on every attempt (logged with
fault "lookup_failed").
"""

from __future__ import annotations

from collections.abc import Set

import orjson

from batchsync.sampleapi.keys import KeyService, is_well_formed
from batchsync.sampleapi.messages import ApiRequest, Response, json_response

KEYCHECK_PATH = "/api/keycheck"
LOOKUP_FAILED_FAULT = "lookup_failed"


def requested_keys(request: ApiRequest) -> list[str] | None:
    """The keys a key-check request names, as sent (duplicates kept), or None when it names none readably.

    GET reads the comma-separated `keys` parameter (blanks around and between commas are dropped); POST
    reads a JSON object's `keys` list, where an entry that is not a string is kept as its JSON text, so it
    fails the key check rather than the parse.
    """
    if request.method == "GET":
        raw = request.query.get("keys")
        if raw is None:
            return None
        return [key.strip() for key in raw.split(",") if key.strip()]
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        return None
    return [key if isinstance(key, str) else orjson.dumps(key).decode() for key in body["keys"]]


def respond_keycheck(
    request: ApiRequest, keys: KeyService, *, max_keys: int, fail_keys: Set[str]
) -> Response:
    """The answer to an authorised GET or POST key check (see the module docstring for every status)."""
    asked = requested_keys(request)
    if asked is None:
        if request.method == "GET":
            return _error(400, "missing keys parameter: ?keys=K1,K2,...")
        return _error(400, 'body must be a JSON object like {"keys": ["K1", "K2"]}')
    if len(asked) > max_keys:
        return _error(400, f"too many keys: {len(asked)} > {max_keys}")
    malformed = next((key for key in asked if not is_well_formed(key)), None)
    if malformed is not None:
        return _error(400, f"invalid key: {malformed}")
    if any(key in fail_keys for key in asked):
        failed = _error(503, "key check backend unavailable")
        return Response(failed.status, failed.body, fault=LOOKUP_FAILED_FAULT)
    answers = keys.lookup(asked)
    return json_response(200, answers, record_count=len(answers))


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})
