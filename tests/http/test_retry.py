"""The retry policy: Retry-After first (capped), exponential backoff with jitter, a fixed number of tries."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from batchsync.errors import TransientHttpError
from batchsync.http.retry import RetryPolicy


def policy(**overrides: object) -> RetryPolicy:
    settings: dict[str, object] = {"random_fraction": random.Random(7), **overrides}
    return RetryPolicy(**settings)  # type: ignore[arg-type]


def test_retry_after_is_obeyed_and_capped_by_max_backoff() -> None:
    retry = policy(max_backoff_seconds=30)
    assert retry.wait_seconds(1, TransientHttpError("429", retry_after_seconds=7)) == 7
    assert retry.wait_seconds(1, TransientHttpError("503", retry_after_seconds=600)) == 30


def test_gives_up_after_max_attempts() -> None:
    retry = policy(max_attempts=3)
    error = TransientHttpError("500")
    assert retry.wait_seconds(1, error) is not None
    assert retry.wait_seconds(2, error) is not None
    assert retry.wait_seconds(3, error) is None


@given(attempt=st.integers(min_value=1, max_value=30), seed=st.integers(0, 10_000))
def test_backoff_grows_exponentially_with_jitter_and_never_passes_the_cap(attempt: int, seed: int) -> None:
    retry = RetryPolicy(
        max_attempts=100, backoff_seconds=0.5, max_backoff_seconds=60, random_fraction=random.Random(seed)
    )

    wait = retry.wait_seconds(attempt, TransientHttpError("500"))

    ceiling = min(0.5 * 2 ** (attempt - 1), 60)
    assert wait is not None and ceiling / 2 <= wait <= ceiling
