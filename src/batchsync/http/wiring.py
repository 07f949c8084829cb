"""The one place a pipeline's HTTP settings become a working client: HttpClient, auth (and the client its
token requests use), RetryPolicy and RateLimiter, all from the pipeline's config.

Every request batchsync sends for a pipeline goes through a client made here, so a pipeline's `retry`,
`timeout` and `rate_limit` hold for all of them: its pages, its lookups, its targeted fetches, and a
fan-out's entity listing alike. The context manager closes both httpx clients however the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from batchsync.config import PipelineConfig, RetryConfig
from batchsync.config.http import HttpEndpointConfig
from batchsync.http.auth import build_auth
from batchsync.http.client import HttpClient
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.retry import RetryPolicy
from batchsync.redaction import Redactor

_NO_ENDPOINT = "http://127.0.0.1"
"""The base URL of a client whose source sends no request itself (a python source)."""


@contextmanager
def open_http_client(
    pipeline: PipelineConfig, endpoint: HttpEndpointConfig | None, redactor: Redactor
) -> Iterator[HttpClient]:
    """A client for `endpoint` (its URL, headers, auth and allowed hosts) under `pipeline`'s retry,
    timeout and rate limit; `endpoint` None for a source that sends no request itself. Raises ConfigError
    for auth that cannot be set up."""
    timeout = httpx.Timeout(pipeline.timeout.read, connect=pipeline.timeout.connect)
    with httpx.Client(timeout=timeout) as token_client:
        auth = build_auth(endpoint.auth, token_client, redactor) if endpoint is not None else None
        client = HttpClient(
            endpoint.base_url if endpoint is not None else _NO_ENDPOINT,
            headers=endpoint.headers if endpoint is not None else {},
            auth=auth,
            timeout=timeout,
            retry=retry_policy(pipeline.retry),
            rate_limiter=RateLimiter(
                pipeline.rate_limit.per_second if pipeline.rate_limit else None,
                max_wait_seconds=pipeline.retry.max_backoff,
            ),
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
