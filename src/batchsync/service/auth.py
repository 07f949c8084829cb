"""Who may do what: `BATCHSYNC_ADMIN_TOKEN` may do everything, `BATCHSYNC_READ_TOKEN` (optional) may only
read. A request carries one of them as `Authorization: Bearer …`; tokens are compared in constant time
(`secrets.compare_digest`), so the time an answer takes says nothing about how much of a guess was
right. No token or a wrong one: 401; a read token on a route that changes something: 403.

`/health` and `/metrics` are open (they carry no secret and no record data). `--no-auth` turns the
check off, and is refused on any address but loopback (service/server.py).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass

from fastapi import Request

from batchsync.service.errors import ApiError


class Access(enum.Enum):
    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Tokens:
    """The tokens the service accepts; `admin` None means authentication is off (`--no-auth`)."""

    admin: str | None
    read: str | None = None

    @property
    def is_enabled(self) -> bool:
        return self.admin is not None

    def access_of(self, presented: str) -> Access | None:
        """What `presented` may do, or None for a token that is neither. Both comparisons always run."""
        is_admin = self.admin is not None and secrets.compare_digest(presented.encode(), self.admin.encode())
        is_reader = self.read is not None and secrets.compare_digest(presented.encode(), self.read.encode())
        if is_admin:
            return Access.ADMIN
        return Access.READ if is_reader else None


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def check_access(tokens: Tokens, presented: str | None, needed: Access) -> None:
    """Raise ApiError 401 or 403 unless `presented` may do what `needed` says."""
    if not tokens.is_enabled:
        return
    if presented is None:
        raise ApiError(401, "unauthorized", "this route needs a token: Authorization: Bearer <token>")
    access = tokens.access_of(presented)
    if access is None:
        raise ApiError(401, "unauthorized", "the token is not valid")
    if needed is Access.ADMIN and access is not Access.ADMIN:
        raise ApiError(403, "forbidden", "the read token cannot change anything; use the admin token")
