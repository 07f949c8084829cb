"""Dashboard log-ins: the token once, then a signed session cookie (HttpOnly, SameSite=Strict, expiring),
and a CSRF token per session that every state-changing form carries.

The cookie holds only what the token allowed (`admin` or `read`) and the session's CSRF token, signed
and timestamped with itsdangerous (the library Starlette's own sessions use) under a key from
`BATCHSYNC_SESSION_SECRET`, or one made at start-up (then a restart logs everyone out). A form is
accepted only with the session's CSRF token and, when the browser says where it came from (`Origin`),
from this very site: a page elsewhere can neither read the token nor, with SameSite=Strict, send the
cookie, and the check holds even for a browser that ignores SameSite.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from batchsync.service.auth import Access

COOKIE = "batchsync_session"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    access: Access
    csrf: str


class Sessions:
    def __init__(self, secret: str | None = None) -> None:
        self._serializer = URLSafeTimedSerializer(
            secret or secrets.token_urlsafe(32), salt="batchsync-session"
        )

    def new(self, access: Access) -> tuple[Session, str]:
        """A session and its cookie value."""
        session = Session(access, secrets.token_urlsafe(24))
        return session, self._serializer.dumps({"access": access.value, "csrf": session.csrf})

    def of(self, request: Request) -> Session | None:
        """The request's valid, unexpired session, or None."""
        value = request.cookies.get(COOKIE)
        if not value:
            return None
        try:
            found = self._serializer.loads(value, max_age=MAX_AGE_SECONDS)
        except BadSignature:  # tampered with, or expired (SignatureExpired is a BadSignature)
            return None
        return Session(Access(found["access"]), str(found["csrf"]))


def is_same_site_form(request: Request, session: Session, presented_csrf: str | None) -> bool:
    """Whether a state-changing form may be carried out: the session's CSRF token, from this site."""
    if presented_csrf is None or not secrets.compare_digest(presented_csrf, session.csrf):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")
