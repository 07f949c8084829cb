"""What an answer's `Retry-After` header asks for, in seconds from now.

One reading for both of its users: the retry loop (how long the request that got it waits) and the rate
limiter (how long every request of the pipeline waits), so the two never disagree about the moment.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from datetime import UTC, datetime


def retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds from a `Retry-After` header, given as seconds or as an HTTP date (measured from `now`);
    None when there is none or it cannot be read. Never negative."""
    value = next((value for name, value in headers.items() if name.lower() == "retry-after"), None)
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf" or "nan" is no moment to wait for
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
