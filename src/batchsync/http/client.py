"""`HttpClient.fetch(PageRequest) -> JsonResponse`: the only place that talks HTTP and the only retry loop.

One keep-alive httpx client per run. httpx's exceptions are translated here into the `SourceError`
branch, so nothing above this module handles a third-party type. Every message is redacted.
"""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import httpx

from batchsync import jsontext
from batchsync.errors import PermanentHttpError, QuotaExhaustedError, TransientHttpError
from batchsync.http.auth import HeaderAuth, QueryParamAuth
from batchsync.http.origins import OriginPolicy
from batchsync.http.ratelimit import RateLimiter
from batchsync.http.retry import RetryPolicy
from batchsync.http.retryafter import retry_after_seconds
from batchsync.models import JsonResponse, PageRequest
from batchsync.redaction import Redactor

log = logging.getLogger("batchsync.http")

_BODY_PREVIEW_CHARS = 200


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """httpx's default certificate verification, made once per process and shared by every client:
    making one reads the CA bundle (about 30 ms), which each child sync of a fan-out paid twice."""
    return httpx.create_ssl_context()


class HttpClient:
    """GETs JSON pages with keep-alive, retrying what is worth retrying."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        timeout: httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        redactor: Redactor | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        allowed_hosts: Sequence[str] = (),
    ) -> None:
        """`allowed_hosts`: hosts beside base_url's own origin that may receive requests (see origins.py)."""
        self._origins = OriginPolicy(base_url, allowed_hosts)
        self._credential_headers = {"authorization", *(name.lower() for name in headers or {})}
        self._credential_params: set[str] = set()
        if isinstance(auth, HeaderAuth):
            self._credential_headers.add(auth.header_name.lower())
        if isinstance(auth, QueryParamAuth):
            self._credential_params.add(auth.param_name)
        self._client = httpx.Client(
            base_url=base_url,
            headers={"Accept": "application/json", "User-Agent": "batchsync", **(headers or {})},
            auth=auth,
            timeout=timeout or httpx.Timeout(60.0, connect=10.0),
            transport=transport,
            verify=shared_tls_context(),
            follow_redirects=True,
            event_hooks={"request": [self._strip_credentials_off_origin]},
        )
        self._retry = retry or RetryPolicy()
        self._limiter = rate_limiter or RateLimiter()
        self._redactor = redactor or Redactor()
        self._sleep = sleep
        self._lock = threading.Lock()
        self._api_calls = 0
        self._retries = 0

    @property
    def api_calls(self) -> int:
        """HTTP requests sent to the API so far, retries included."""
        return self._api_calls

    @property
    def retries(self) -> int:
        return self._retries

    def fetch(self, request: PageRequest) -> JsonResponse:
        """The page's JSON answer. Raises PermanentHttpError, or TransientHttpError once retries run out."""
        attempt = 1
        while True:
            try:
                return self._fetch_once(request)
            except TransientHttpError as error:
                if error.status == 429 and (error.retry_after_seconds or 0) > self._retry.max_backoff_seconds:
                    # Waiting less than the API asked would only burn requests: stop cleanly instead.
                    resume_at = datetime.now(UTC) + timedelta(seconds=error.retry_after_seconds or 0)
                    raise QuotaExhaustedError(
                        f"{error}; the API asks to wait until {resume_at:%Y-%m-%d %H:%M:%S} UTC, "
                        f"longer than max_backoff ({self._retry.max_backoff_seconds:.0f}s): "
                        "the checkpoint is saved, run again after that time",
                        resume_at=resume_at,
                        url=error.url,
                    ) from error
                wait = self._retry.wait_seconds(attempt, error)
                if wait is None:
                    raise TransientHttpError(
                        f"{error} (gave up after {attempt} attempts)",
                        url=error.url,
                        status=error.status,
                    ) from error
                log.warning("retrying in %.2fs (attempt %d): %s", wait, attempt + 1, error)
                with self._lock:
                    self._retries += 1
                self._sleep(wait)
                attempt += 1

    def _strip_credentials_off_origin(self, request: httpx.Request) -> None:
        """Runs for every request httpx sends, redirects included: one that a redirect took to another
        origin goes without the configured headers, the auth header or the API key parameter."""
        if self._origins.is_trusted(request.url):
            return
        for name in self._credential_headers:
            request.headers.pop(name, None)
        for name in self._credential_params:
            request.url = request.url.copy_remove_param(name)

    def _fetch_once(self, request: PageRequest) -> JsonResponse:
        self._origins.check(request.url)
        self._limiter.acquire()
        with self._lock:
            self._api_calls += 1
        started = time.perf_counter()
        try:
            # An empty params dict would make httpx drop the query string a next-link URL carries.
            response = self._client.request(
                request.method, request.url, params=dict(request.params) or None, json=request.json
            )
        except httpx.TimeoutException as exc:
            raise TransientHttpError(self._describe(request, f"timed out ({type(exc).__name__})")) from exc
        except httpx.UnsupportedProtocol as exc:  # a redirect to ftp:// or the like: no retry changes it
            raise PermanentHttpError(self._describe(request, f"was sent somewhere unusable: {exc}")) from exc
        except httpx.TransportError as exc:
            raise TransientHttpError(self._describe(request, f"connection failed: {exc}")) from exc
        except httpx.TooManyRedirects as exc:
            raise PermanentHttpError(
                self._describe(request, f"was redirected too many times (a redirect loop?): {exc}")
            ) from exc
        except httpx.DecodingError as exc:
            raise PermanentHttpError(
                self._describe(request, f"answered a body that cannot be decoded ({exc})")
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise PermanentHttpError(self._describe(request, f"failed: {exc}")) from exc
        self._limiter.observe(response.status_code, response.headers)
        url = self._redactor.redact(str(response.url))
        if log.isEnabledFor(logging.DEBUG):
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.debug("%s %s -> %d in %.0f ms", request.method, url, response.status_code, elapsed_ms)
        status = response.status_code
        if status >= 400:
            preview = self._redactor.redact(response.text[:_BODY_PREVIEW_CHARS])
            message = f"{request.method} {url} answered {status}: {preview}"
            if self._retry.should_retry_status(status):
                raise TransientHttpError(
                    message,
                    url=url,
                    status=status,
                    retry_after_seconds=retry_after_seconds(response.headers, datetime.now(UTC)),
                )
            if status == 401:
                message += " (authentication refused; check the credentials)"
            raise PermanentHttpError(message, url=url, status=status)
        try:
            body = jsontext.parse(response.content)
        except jsontext.InvalidJsonError as exc:
            content_type = response.headers.get("content-type", "unknown")
            preview = self._redactor.redact(response.content[:_BODY_PREVIEW_CHARS].decode(errors="replace"))
            if "html" in content_type:
                raise PermanentHttpError(
                    f"GET {url} answered HTML where JSON was expected (is base_url right?): {preview}",
                    url=url,
                    status=status,
                ) from exc
            message = f"GET {url} answered a body that is not valid JSON ({content_type}): {exc}"
            if exc.is_truncated:
                # A body that stops before its value does is usually a connection cut mid-answer.
                raise TransientHttpError(
                    f"{message}; it looks cut short: {preview}", url=url, status=status
                ) from exc
            # The same bytes would fail the same way: retrying cannot help.
            raise PermanentHttpError(f"{message}: {preview}", url=url, status=status) from exc
        return JsonResponse(
            url=str(response.url), status=status, headers=response.headers, body=body, text=response.content
        )

    def _describe(self, request: PageRequest, problem: str) -> str:
        try:
            target = str(
                self._client.build_request("GET", request.url, params=dict(request.params) or None).url
            )
        except (httpx.InvalidURL, ValueError):
            target = request.url
        return self._redactor.redact(f"{request.method} {target} {problem}")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
