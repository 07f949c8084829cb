"""`POST /oauth/token`: the fake API's OAuth2 token endpoint (RFC 6749 refresh and client credentials).

Client credentials may come in the form body or as HTTP Basic, as real providers accept both. The endpoint
only issues tokens when `SampleApiSettings.auth` is an `OAuth2Auth`; otherwise no client is registered and
every request is `invalid_client`.
"""

from __future__ import annotations

import urllib.parse

from fakeapi.auth import AuthRequirement, OAuth2Auth, read_basic_credentials
from fakeapi.messages import ApiRequest, Response, json_response
from fakeapi.tokens import TokenIssuer

_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def answer_token_request(
    request: ApiRequest, requirement: AuthRequirement | None, tokens: TokenIssuer
) -> Response:
    """Issue an access token, or answer with an RFC 6749 error body (`{"error": ...}`)."""
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != _FORM_CONTENT_TYPE:
        return _error(400, "invalid_request", f"Content-Type must be {_FORM_CONTENT_TYPE}")
    form = dict(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    basic = read_basic_credentials(request)
    if basic is not None:
        # RFC 6749 2.3.1: Basic credentials are form-urlencoded before base64.
        client_id, client_secret = (urllib.parse.unquote_plus(part) for part in basic)
    if (
        not isinstance(requirement, OAuth2Auth)
        or client_id != requirement.client_id
        or client_secret != requirement.client_secret
    ):
        return _error(401, "invalid_client", "unknown client or wrong client secret")

    grant_type = form.get("grant_type")
    if grant_type == "refresh_token":
        if requirement.refresh_token is None or form.get("refresh_token") != requirement.refresh_token:
            return _error(400, "invalid_grant", "refresh token is invalid or revoked")
    elif grant_type != "client_credentials":
        return _error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    ttl = requirement.token_ttl_seconds
    payload: dict[str, object] = {
        "access_token": tokens.issue(requirement),
        "token_type": "Bearer",
        "expires_in": int(ttl) if float(ttl).is_integer() else ttl,
    }
    if form.get("scope"):
        payload["scope"] = form["scope"]
    return json_response(200, payload, headers=(("Cache-Control", "no-store"),))


def _error(status: int, error: str, description: str) -> Response:
    return json_response(status, {"error": error, "error_description": description})
