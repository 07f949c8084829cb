"""The pace of the traffic the fake API saw, from its request log's arrival times.

A pace of `rate` requests per second with a tolerance of `burst` requests means: no stretch of time
holds more than `rate` times its length plus `burst` (a token bucket of `burst` tokens, refilled at
`rate`, would admit every request). The client's own bucket holds one token, so by the moments it grants
turns the traffic fits `burst` 1. A thread that wakes late for its turn (two loaded cores, a dozen
threads) sends right behind the next one: late by `d` seconds, it adds `rate * d` to the burst. The tests
allow a quarter of a second of that (`tolerated_burst`: 6 at 20 requests/s). The fake API's own limiter
(tests/fakeapi/limits.py) is a bucket of `rate` tokens, so traffic within that tolerance is never refused;
eight clients each pacing on their own at 20/s come to a burst of about 25.
"""

from __future__ import annotations

from collections.abc import Sequence

from fakeapi.requestlog import LoggedRequest

LATE_WAKE_SECONDS = 0.25
"""How late a thread may wake for its turn on a loaded machine, as far as the pace tests are concerned."""


def tolerated_burst(rate: float) -> float:
    """One token of the client's bucket, and what a thread waking `LATE_WAKE_SECONDS` late adds to it."""
    return 1 + rate * LATE_WAKE_SECONDS


def arrival_times(requests: Sequence[LoggedRequest]) -> list[float]:
    return sorted(request.received_at for request in requests)


def burst_beyond(times: Sequence[float], rate: float) -> float:
    """The smallest bucket of tokens, refilled at `rate` per second, that admits all of the traffic: the
    most requests any stretch [t_i, t_j] holds beyond `rate` times its length. 1 for requests exactly
    1/rate apart; it grows without bound for a client that exceeds `rate` for long."""
    ordered = sorted(times)
    return max(
        (
            j - i + 1 - rate * (ordered[j] - ordered[i])
            for i in range(len(ordered))
            for j in range(i, len(ordered))
        ),
        default=0.0,
    )
