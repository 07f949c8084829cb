"""The one place where the fake API misbehaves on purpose: a plan consulted before each collection answer.

The dispatcher hands `FaultPlan.before_collection_response` the request and the answer it is about to send,
and sends whatever comes back (key checks and account requests count as collection requests here). The
plans here replace that answer with one of six faults a sync has to survive, each marked in `Response.fault`
so the request log and `SampleApi.faults_injected` record it:

    server_error   a JSON 5xx (500, 502, 503 or 504; see `FaultOptions.server_error_statuses`)
    rate_limited   429 with `Retry-After: <FaultOptions.retry_after_seconds>`
    hang           the real answer, sent only after `FaultOptions.hang_seconds` (beyond a read timeout)
    truncated      status 200, the full Content-Length, half the body, then the connection is closed
    invalid_json   status 200, a Content-Length that matches, a body cut mid-JSON (`{"items":[{"item_id":"48`)
    dropped        the connection is closed without a status line (logged with status 0)

`RandomFaults` draws them at configured rates from a seeded generator; `FailNth`, `FailWhere` and
`AlwaysFail` fail chosen requests deterministically. The server's own rate limit and quota sit in front of
the plan (see `limits.py`): a request they refuse never reaches it and does not count as one it saw.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias, get_args

from typing_extensions import override

from fakeapi.messages import ApiRequest, Response, json_response

FaultKind: TypeAlias = Literal["server_error", "rate_limited", "hang", "truncated", "invalid_json", "dropped"]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


class FaultPlan(Protocol):
    """Decides, per collection request, whether to send the real answer or a fault in its place."""

    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        """The response to send; return `response` itself to behave normally. Called from handler threads."""
        ...


class NoFaults(FaultPlan):
    """The default plan: every answer goes out as the endpoint produced it."""

    @override
    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        return response


@dataclass(frozen=True, slots=True)
class FaultOptions:
    """How the injected faults look. `RandomFaults` picks among `server_error_statuses` with its generator;
    the deterministic plans always send the first of them."""

    retry_after_seconds: int = 1
    hang_seconds: float = 2.0
    server_error_statuses: tuple[int, ...] = (500, 502, 503, 504)

    def __post_init__(self) -> None:
        if self.retry_after_seconds < 0 or self.hang_seconds < 0:
            raise ValueError("retry_after_seconds and hang_seconds must be >= 0")
        if not self.server_error_statuses or not all(500 <= s <= 599 for s in self.server_error_statuses):
            raise ValueError(f"server_error_statuses must be 5xx codes, got {self.server_error_statuses}")


def inject(
    kind: FaultKind, response: Response, options: FaultOptions, *, status: int | None = None
) -> Response:
    """`response` turned into fault `kind`; `status` picks the 5xx of a server_error (default: the first)."""
    if kind == "server_error":
        code = status if status is not None else options.server_error_statuses[0]
        return _error(code, "injected server error", kind)
    if kind == "rate_limited":
        retry_after = (("Retry-After", str(options.retry_after_seconds)),)
        return _error(429, "too many requests", kind, headers=retry_after)
    if kind == "hang":
        return dataclasses.replace(response, fault=kind, delay_seconds=options.hang_seconds)
    if kind == "truncated":
        return dataclasses.replace(response, fault=kind, delivery="truncated", record_count=0)
    if kind == "invalid_json":
        # Any strict prefix of a JSON object or array is invalid JSON, so half the body always fails to parse.
        cut = response.body[: len(response.body) // 2]
        return dataclasses.replace(response, body=cut, fault=kind, record_count=0)
    if kind == "dropped":
        return Response(0, b"", fault=kind, delivery="dropped")
    raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")


@dataclass(frozen=True, slots=True)
class FaultRates:
    """The fraction of collection requests that get each fault; the rest are answered normally.

    Raises ValueError when a rate is outside 0..1 or the rates add up to more than 1.
    """

    server_error: float = 0.0
    rate_limited: float = 0.0
    hang: float = 0.0
    truncated: float = 0.0
    invalid_json: float = 0.0
    dropped: float = 0.0

    def __post_init__(self) -> None:
        rates = self.by_kind()
        if any(not 0.0 <= rate <= 1.0 for rate in rates.values()):
            raise ValueError(f"fault rates must lie in 0..1, got {rates}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {sum(rates.values())}, more than 1")

    def by_kind(self) -> dict[FaultKind, float]:
        return {kind: float(getattr(self, kind)) for kind in FAULT_KINDS}


class RandomFaults(FaultPlan):
    """Draws one outcome per collection request from a generator seeded with `seed`.

    The n-th request the plan sees always gets the n-th outcome, so a single-threaded run is reproducible
    request for request; concurrent clients share one sequence in arrival order.
    """

    def __init__(self, rates: FaultRates, seed: int = 0, *, options: FaultOptions | None = None) -> None:
        self.rates = rates
        self.options = options if options is not None else FaultOptions()
        self._thresholds: list[tuple[float, FaultKind]] = []
        cumulative = 0.0
        for kind, rate in rates.by_kind().items():
            if rate > 0:
                cumulative += rate
                self._thresholds.append((cumulative, kind))
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @override
    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        with self._lock:
            draw = self._random.random()
            kind = next((kind for threshold, kind in self._thresholds if draw < threshold), None)
            status = None
            if kind == "server_error":
                status = self._random.choice(self.options.server_error_statuses)
        return response if kind is None else inject(kind, response, self.options, status=status)


class FailNth(FaultPlan):
    """Fails the collection requests at the given 1-based ordinals: `FailNth({3: "server_error"})`.

    Ordinals count the collection requests this plan has seen, from its creation.
    """

    def __init__(self, nth: Mapping[int, FaultKind], *, options: FaultOptions | None = None) -> None:
        for kind in nth.values():
            _check_kind(kind)
        self.nth = dict(nth)
        self.options = options if options is not None else FaultOptions()
        self._seen = 0
        self._lock = threading.Lock()

    @override
    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        with self._lock:
            self._seen += 1
            kind = self.nth.get(self._seen)
        return response if kind is None else inject(kind, response, self.options)


RequestMatch: TypeAlias = "Callable[[ApiRequest], bool] | Mapping[str, str | int]"


class FailWhere(FaultPlan):
    """Fails every collection request that `match` selects, on every attempt: a page no retry gets past.

    `match` is a predicate on the request, or query parameters that must all be present with these values:
    `FailWhere({"page": 5}, "server_error")` fails page 5 of the page-number and Link header shapes,
    `FailWhere({"offset": 400}, "dropped")` the offset page at 400.
    """

    def __init__(self, match: RequestMatch, kind: FaultKind, *, options: FaultOptions | None = None) -> None:
        self.kind = _check_kind(kind)
        self.options = options if options is not None else FaultOptions()
        self._matches = match if callable(match) else _query_matcher(match)

    @override
    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        return inject(self.kind, response, self.options) if self._matches(request) else response


class AlwaysFail(FailWhere):
    """Fails every collection request with `kind`: an API that is down for the whole run."""

    def __init__(self, kind: FaultKind, *, options: FaultOptions | None = None) -> None:
        super().__init__(_always, kind, options=options)


def _always(_request: ApiRequest) -> bool:
    return True


def _query_matcher(expected: Mapping[str, str | int]) -> Callable[[ApiRequest], bool]:
    wanted = {name: str(value) for name, value in expected.items()}

    def matches(request: ApiRequest) -> bool:
        return all(request.query.get(name) == value for name, value in wanted.items())

    return matches


def _check_kind(kind: str) -> FaultKind:
    for known in FAULT_KINDS:
        if kind == known:
            return known
    raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")


def _error(status: int, message: str, kind: str, *, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = {"code": status, "message": message}
    return dataclasses.replace(json_response(status, body, headers=headers), fault=kind)
