"""Switches a test may flip while the sample API is serving: latency, auth, page size limit, faults.

Handlers read these fields on every request, so a change applies from the next request on; replace a field
wholesale (`settings.auth = BearerAuth("t")`) rather than mutating the value inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batchsync.sampleapi.auth import AuthRequirement
from batchsync.sampleapi.faults import FaultPlan, NoFaults


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
