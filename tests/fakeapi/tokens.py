"""The fake API's OAuth2 access tokens: issuing them, and spending them against expiry and use limits.

Tokens are numbered, not random, so runs are reproducible; expiry uses an injected monotonic clock so a
test can age a token without sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakeapi.auth import OAuth2Auth


@dataclass(slots=True)
class _Grant:
    requirement: OAuth2Auth
    expires_at: float
    uses: int = 0


class TokenIssuer:
    """Issues access tokens and answers whether one may be used once more; thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._grants: dict[str, _Grant] = {}

    @property
    def issued_count(self) -> int:
        """How many tokens have been issued, so tests can assert that a client refreshed."""
        with self._lock:
            return len(self._grants)

    def issue(self, requirement: OAuth2Auth) -> str:
        """A new access token valid for `requirement.token_ttl_seconds` from now."""
        with self._lock:
            token = f"sampleapi-access-{len(self._grants) + 1:06d}"
            self._grants[token] = _Grant(requirement, self._clock() + requirement.token_ttl_seconds)
            return token

    def spend(self, token: str, requirement: OAuth2Auth) -> bool:
        """Use `token` once: False when unknown, issued for another client, expired or used up."""
        with self._lock:
            grant = self._grants.get(token)
            if grant is None or grant.requirement != requirement or self._clock() >= grant.expires_at:
                return False
            limit = requirement.max_uses_per_token
            if limit is not None and grant.uses >= limit:
                return False
            grant.uses += 1
            return True
