"""Authentication for API requests, as httpx `Auth` objects built from the pipeline's `auth:` block.

OAuth2 tokens are fetched with their own small client and a lock, so any number of fetch threads share
one token; a token is renewed shortly before it expires and once more after a 401, after which the 401
stands and the run fails with a clear message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx
import orjson

from batchsync.config import (
    ApiKeyAuthConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    OAuth2ClientCredentialsConfig,
    OAuth2RefreshTokenConfig,
)
from batchsync.errors import PermanentHttpError, TransientHttpError
from batchsync.redaction import Redactor


class HeaderAuth(httpx.Auth):
    """Sends one fixed header (bearer tokens, API keys in a header)."""

    def __init__(self, name: str, value: str) -> None:
        self._name = name
        self._value = value

    @property
    def header_name(self) -> str:
        return self._name

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._name] = self._value
        yield request


class QueryParamAuth(httpx.Auth):
    """Adds the API key to the query string (`api_key: {in: query}`)."""

    def __init__(self, name: str, value: str) -> None:
        self._name = name
        self._value = value

    @property
    def param_name(self) -> str:
        return self._name

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params({self._name: self._value})
        yield request


class OAuth2Auth(httpx.Auth):
    """Access tokens from a token endpoint (refresh-token or client-credentials grant)."""

    def __init__(
        self,
        config: OAuth2RefreshTokenConfig | OAuth2ClientCredentialsConfig,
        token_client: httpx.Client,
        redactor: Redactor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._token_client = token_client
        self._redactor = redactor
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_token = (
            config.refresh_token.get_secret_value() if isinstance(config, OAuth2RefreshTokenConfig) else None
        )
        self.token_requests = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current_token()
        request.headers["Authorization"] = self._config.header_format.replace("{token}", token)
        response = yield request
        if response.status_code == 401:
            token = self._current_token(stale=token)
            request.headers["Authorization"] = self._config.header_format.replace("{token}", token)
            yield request

    def _current_token(self, stale: str | None = None) -> str:
        """A token valid for a while yet; `stale` is one the API refused, so never hand it out again."""
        with self._lock:
            is_fresh = self._clock() < self._expires_at - self._config.refresh_margin_seconds
            if self._token is None or self._token == stale or not is_fresh:
                self._token, lifetime = self._request_token()
                self._expires_at = self._clock() + lifetime
            return self._token

    def _request_token(self) -> tuple[str, float]:
        config = self._config
        form = {"client_id": config.client_id, "client_secret": config.client_secret.get_secret_value()}
        if self._refresh_token is not None:
            form |= {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
        else:
            form["grant_type"] = "client_credentials"
        if config.scope:
            form["scope"] = config.scope
        self.token_requests += 1
        try:
            response = self._token_client.post(config.token_url, data=form)
        except httpx.HTTPError as exc:
            raise TransientHttpError(
                self._redactor.redact(f"token request to {config.token_url} failed: {exc!r}"),
                url=config.token_url,
            ) from exc
        if response.status_code >= 400:
            body = self._redactor.redact(response.text[:200])
            raise PermanentHttpError(
                f"the token endpoint {config.token_url} refused the credentials "
                f"({response.status_code}): {body}",
                url=config.token_url,
                status=response.status_code,
            )
        try:
            answer = orjson.loads(response.content)
            token = str(answer["access_token"])
            self._redactor.add(token)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise PermanentHttpError(
                f"the token endpoint {config.token_url} answered without an access_token",
                url=config.token_url,
            ) from exc
        rotated = answer.get("refresh_token") if isinstance(answer, dict) else None
        if self._refresh_token is not None and isinstance(rotated, str) and rotated:
            # Providers that rotate refresh tokens invalidate the old one with this answer.
            self._refresh_token = rotated
            self._redactor.add(rotated)
        lifetime = answer.get("expires_in") if isinstance(answer, dict) else None
        return token, float(lifetime) if isinstance(lifetime, int | float | str) else 3600.0


def build_auth(
    config: AuthConfig | None, token_client: httpx.Client, redactor: Redactor
) -> httpx.Auth | None:
    """The httpx Auth for a pipeline's `auth:` block (None when the API needs none)."""
    match config:
        case None:
            return None
        case BearerAuthConfig():
            return HeaderAuth("Authorization", f"Bearer {config.token.get_secret_value()}")
        case ApiKeyAuthConfig(location="header"):
            return HeaderAuth(config.name, config.value.get_secret_value())
        case ApiKeyAuthConfig():
            return QueryParamAuth(config.name, config.value.get_secret_value())
        case BasicAuthConfig():
            return httpx.BasicAuth(config.username, config.password.get_secret_value())
        case OAuth2RefreshTokenConfig() | OAuth2ClientCredentialsConfig():
            return OAuth2Auth(config, token_client, redactor)
    raise AssertionError(f"unhandled auth config {type(config).__name__}")
