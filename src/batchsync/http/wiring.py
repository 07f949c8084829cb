"""The one place a pipeline's HTTP settings become a working client: HttpClient, auth (and the client its
token requests use), RetryPolicy and RateLimiter, all from the pipeline's config.

Every request batchsync sends for a pipeline goes through a client made here, so a pipeline's `retry`,
`timeout` and `rate_limit` hold for all of them: its pages, its lookups, its targeted fetches, and a
fan-out's entity listing alike. The context manager closes both httpx clients however the block ends.

A run's clients share one RateLimiter (`rate_limiter_for`), handed to each: a fan-out makes it once and
its listing and every child sync use it, whatever their own endpoint and auth, so the pipeline's rate,
and a pause the API asks for, hold for all of its concurrent requests together, not for each client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from batchsync.config import PipelineConfig, RetryConfig
from batchsync.config.http import HttpEndpointConfig
from batchsync.http.auth import build_auth
from batchsync.http.client import HttpClient, shared_tls_context
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.retry import RetryPolicy
from batchsync.redaction import Redactor

_NO_ENDPOINT = "http://127.0.0.1"
"""The base URL of a client whose source sends no request itself (a python source)."""


def rate_limiter_for(pipeline: PipelineConfig) -> RateLimiter:
    """The one limiter of a run of `pipeline`: its `rate_limit`, and waits up to its `retry.max_backoff`."""
    return RateLimiter(
        pipeline.rate_limit.per_second if pipeline.rate_limit else None,
        max_wait_seconds=pipeline.retry.max_backoff,
    )


@contextmanager
def open_http_client(
    pipeline: PipelineConfig,
    endpoint: HttpEndpointConfig | None,
    redactor: Redactor,
    rate_limiter: RateLimiter | None = None,
) -> Iterator[HttpClient]:
    """A client for `endpoint` (its URL, headers, auth and allowed hosts) under `pipeline`'s retry,
    timeout and rate limit; `endpoint` None for a source that sends no request itself. `rate_limiter`:
    the run's shared limiter, None to make one for this client from `pipeline`. Raises ConfigError for
    auth that cannot be set up."""
    timeout = httpx.Timeout(pipeline.timeout.read, connect=pipeline.timeout.connect)
    with httpx.Client(timeout=timeout, verify=shared_tls_context()) as token_client:
        auth = build_auth(endpoint.auth, token_client, redactor) if endpoint is not None else None
        client = HttpClient(
            endpoint.base_url if endpoint is not None else _NO_ENDPOINT,
            headers=endpoint.headers if endpoint is not None else {},
            auth=auth,
            timeout=timeout,
            retry=retry_policy(pipeline.retry),
            rate_limiter=rate_limiter if rate_limiter is not None else rate_limiter_for(pipeline),
            redactor=redactor,
            allowed_hosts=endpoint.allowed_hosts if endpoint is not None else [],
        )
        with client:
            yield client


def retry_policy(retry: RetryConfig) -> RetryPolicy:
    """The policy for a pipeline's `retry:` block."""
    return RetryPolicy(
        max_attempts=retry.max_attempts,
        backoff_seconds=retry.backoff,
        max_backoff_seconds=retry.max_backoff,
        retry_on_status=frozenset(retry.retry_on),
    )
