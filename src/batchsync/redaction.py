"""Removes secrets from any text before it is logged, stored in a run record or shown to a user.

The config knows which values are secret (credentials, secret-looking query params and environment
variables); everything that formats a message for the outside passes it through one `Redactor`. A secret
travels in more forms than the one in the config, and an API may echo any of them back: URL-encoded in a
query string, JSON-escaped in an error body (a `"` or `\\` inside it), or, for HTTP Basic, as base64 of
`user:password` in the `Authorization` header. Each form is masked.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"


class Redactor:
    """Replaces every known secret, plain or URL-encoded, with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Also mask `secret` from now on (e.g. an access token obtained during the run)."""
        if len(secret) < 3:  # masking "a" or "1" would shred every message and hide nothing
            return
        variants = (
            {
                secret,
                quote(secret, safe=""),
                quote_plus(secret),
                json.dumps(secret)[1:-1],  # as a JSON string holds it: \" \\ and \uXXXX escapes
                json.dumps(secret, ensure_ascii=False)[1:-1],
            }
            - set(self._secrets)
        )
        self._secrets = sorted([*self._secrets, *variants], key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


def basic_token(username: str, password: str) -> str:
    """The base64 text of `Authorization: Basic …`, exactly as httpx sends it."""
    return base64.b64encode(f"{username}:{password}".encode()).decode()
