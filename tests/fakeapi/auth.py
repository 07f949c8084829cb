"""Who may read the fake API's collections: the auth requirement variants and the check against them.

`SampleApiSettings.auth` holds one requirement (or None for an open API). The check applies to collection
endpoints only; `/health`, `/` and `/oauth/token` stay open so a client can always get a token.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Literal, TypeAlias

from batchsync.sampleapi.accounts import UNAUTHORIZED_BODY
from fakeapi.messages import ApiRequest, Response, json_response
from fakeapi.tokens import TokenIssuer

__all__ = [
    "UNAUTHORIZED_BODY",
    "AuthRequirement",
    "credentials",
    "has_bearer_token",
    "is_authorized",
    "unauthorized",
]


@dataclass(frozen=True, slots=True)
class BearerAuth:
    """`Authorization: Bearer <token>` with one fixed token."""

    token: str


@dataclass(frozen=True, slots=True)
class ApiKeyAuth:
    """An API key in a named header (`X-Api-Key: ...`) or query parameter (`?api_key=...`)."""

    name: str
    value: str
    location: Literal["header", "query"] = "header"


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic with one username and password."""

    username: str
    password: str


@dataclass(frozen=True, slots=True)
class OAuth2Auth:
    """Access tokens issued by `POST /oauth/token`, sent as `Authorization: <scheme> <access_token>`.

    Tokens expire `token_ttl_seconds` after issue (by the server's monotonic clock) and, when
    `max_uses_per_token` is set, are refused after that many collection requests, which simulates a token
    revoked in the middle of a sync. `scheme` lets the API behave like Zoho (`Zoho-oauthtoken`).
    """

    client_id: str
    client_secret: str
    refresh_token: str | None = None
    token_ttl_seconds: float = 3600.0
    max_uses_per_token: int | None = None
    scheme: str = "Bearer"


AuthRequirement: TypeAlias = BearerAuth | ApiKeyAuth | BasicAuth | OAuth2Auth


def is_authorized(requirement: AuthRequirement | None, request: ApiRequest, tokens: TokenIssuer) -> bool:
    """Whether `request` satisfies `requirement`; an OAuth2 check also spends one use of the token."""
    if requirement is None:
        return True
    if isinstance(requirement, BearerAuth):
        return has_bearer_token(request, requirement.token)
    if isinstance(requirement, ApiKeyAuth):
        if requirement.location == "query":
            sent = request.query.get(requirement.name)
        else:
            sent = request.header(requirement.name)
        return _same(sent, requirement.value)
    if isinstance(requirement, BasicAuth):
        pair = read_basic_credentials(request)
        if pair is None:
            return False
        return _same(pair[0], requirement.username) and _same(pair[1], requirement.password)
    token = credentials(request, requirement.scheme)
    return token is not None and tokens.spend(token, requirement)


def challenge_for(requirement: AuthRequirement | None) -> str | None:
    """The `WWW-Authenticate` value a 401 carries for `requirement`, when the scheme has one."""
    if isinstance(requirement, BasicAuth):
        return 'Basic realm="sampleapi"'
    if isinstance(requirement, BearerAuth):
        return 'Bearer realm="sampleapi"'
    if isinstance(requirement, OAuth2Auth):
        return f'{requirement.scheme} realm="sampleapi"'
    return None


def read_basic_credentials(request: ApiRequest) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic ...` header, or None when absent or garbled."""
    encoded = credentials(request, "Basic")
    if encoded is None:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, colon, password = decoded.partition(":")
    return (username, password) if colon else None


def _same(sent: str | None, expected: str) -> bool:
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


def credentials(request: ApiRequest, scheme: str) -> str | None:
    """What follows `<scheme> ` (in any case) in the Authorization header, or None."""
    sent_scheme, _, sent = (request.header("authorization") or "").strip().partition(" ")
    return sent.strip() if sent_scheme and sent_scheme.lower() == scheme.lower() else None


def has_bearer_token(request: ApiRequest, token: str) -> bool:
    """Whether `request` carries `Authorization: Bearer <token>` (compared in constant time)."""
    sent = credentials(request, "Bearer")
    return sent is not None and hmac.compare_digest(sent.encode(), token.encode())


def unauthorized(challenge: str | None) -> Response:
    """A 401 with `WWW-Authenticate: <challenge>` when the scheme has one."""
    headers = (("WWW-Authenticate", challenge),) if challenge is not None else ()
    return json_response(401, UNAUTHORIZED_BODY, headers=headers)
