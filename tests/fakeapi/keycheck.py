"""`/api/keycheck`, the key-check service a lookup sync asks about batches of keys from its own table:

    GET  /api/keycheck?keys=K1,K2,...       or POST /api/keycheck {"keys": ["K1", "K2", ...]}
    200  [{"keyname_with_dash": "K1", "prd": "Office 2021 Pro", "remaining": 17, "blocked": 0,
           "errorcode": ""}, ...]

One answer per distinct known key (`keys.KeyService`), in the order asked; unknown keys are absent. The
batch as a whole is refused, so a client must split it to isolate a bad key: more than `max_keys` keys is a
400 `{"error": "too many keys: 51 > 50"}`, a key not shaped like `BCDFG-HJKMP-QRTVW-XY234-6789B` a 400
`{"error": "invalid key: <key>"}`.

A key check naming any key in `SampleApiSettings.lookup_fail_keys` gets a 503 on every attempt (logged with
fault "lookup_failed"), once the batch passed those checks.
"""

from __future__ import annotations

from collections.abc import Set

import orjson

from fakeapi.keys import KeyService, is_well_formed
from fakeapi.messages import ApiRequest, Response, json_response

__all__ = ["KEYCHECK_PATH", "LOOKUP_FAILED_FAULT", "requested_keys", "respond_keycheck"]

KEYCHECK_PATH = "/api/keycheck"
LOOKUP_FAILED_FAULT = "lookup_failed"


def requested_keys(request: ApiRequest) -> list[str] | None:
    """The keys a request names, duplicates kept, or None when it names none readably; a POSTed entry that
    is not a string is kept as its JSON text, so it fails the key check rather than the parse."""
    if request.method == "GET":
        raw = request.query.get("keys")
        return None if raw is None else [key.strip() for key in raw.split(",") if key.strip()]
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        return None
    return [key if isinstance(key, str) else orjson.dumps(key).decode() for key in body["keys"]]


def respond_keycheck(
    request: ApiRequest, service: KeyService, *, max_keys: int, fail_keys: Set[str]
) -> Response:
    """The answer to an authorised GET or POST key check: the answers for the known keys asked, or a 400
    (or the 503 of a failing key) for the whole batch."""
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
    answers = service.lookup(asked)
    return json_response(200, answers, record_count=len(answers))


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})
