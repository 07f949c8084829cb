"""Switches a test may flip while the fake API is serving: latency, auth, page size limit, faults, limits,
poison records and drift, and the misbehaviour of the key-check service and the accounts endpoints.

Handlers read these fields on every request, so a change applies from the next request on; replace a field
wholesale (`settings.auth = BearerAuth("t")`) rather than mutating the value inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakeapi.auth import AuthRequirement
from fakeapi.drift import Drift
from fakeapi.faults import FaultPlan, NoFaults
from fakeapi.limits import Quota


@dataclass(slots=True)
class SampleApiSettings:
    """How the sample API behaves; mutable on purpose (see the module docstring)."""

    latency_seconds: float = 0.0
    """Sleep before answering each collection request, to make a sync's network time visible."""
    auth: AuthRequirement | None = None
    """What collection requests must present; None leaves the API open."""
    max_page_size: int = 1000
    """Larger page size parameters are refused with a 400, as real APIs cap them."""
    faults: FaultPlan = field(default_factory=NoFaults)
    """Consulted before every collection response is written; see `faults.py`."""
    rate_limit_per_second: float | None = None
    """A token bucket (capacity max(1, rate)) over collection requests; beyond it, 429 with Retry-After."""
    quota: Quota | None = None
    """Requests per fixed window, advertised in RateLimit-* or X-RateLimit-* headers; see `limits.py`."""
    poison: dict[str, str] = field(default_factory=dict)
    """Item id -> poison kind, applied whenever a page carries the item; `{}` fixes the source."""
    drift: Drift | None = None
    """Insert or delete items at the front of the order every few pages served; see `drift.py`."""
    lookup_max_keys: int = 50
    """A key check naming more keys than this is refused with a 400 `{"error": "too many keys: 51 > 50"}`."""
    lookup_fail_keys: set[str] = field(default_factory=set)
    """A key check naming any of these keys gets a 503 on every attempt: a batch the backend cannot answer."""
    revoked_accounts: set[str] = field(default_factory=set)
    """Accounts whose own valid token `GET /accounts/{id}/transactions` refuses with a 401 anyway."""
