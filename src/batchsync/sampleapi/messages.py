"""The request and response values passed between the socket handler and the sample API's endpoints.

Endpoints in `batchsync.sampleapi` are plain functions from an `ApiRequest` to a `Response`, so the HTTP
plumbing in `server.py` is the only code that touches sockets, and fault injection can rewrite a finished
`Response` before it is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import orjson

JSON_CONTENT_TYPE = "application/json"

Delivery: TypeAlias = Literal["complete", "truncated", "dropped"]
"""How `server.py` writes a `Response`: whole; headers with the full Content-Length but only the first half
of the body, then hang up; or not at all (the connection is closed without a status line)."""


class BadRequestError(Exception):
    """A client error an endpoint reports as a 4xx answer.

    It never leaves `batchsync.sampleapi`: the dispatcher turns it into a JSON error response in the
    endpoint's own error shape, which is why it lives here and not in `batchsync.errors`.
    """

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One parsed HTTP request: query flattened to its last value per name, header names lower-cased."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), or None when the client did not send it."""
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Response:
    """An answer; `record_count` is how many inventory items the body carries, for the log.

    The last three fields are for misbehaving on purpose: `fault` names the injected fault for the log (None
    for an honest answer), `delay_seconds` is waited before the first byte goes out, and `delivery` says
    whether the bytes go out whole, cut short or not at all.
    """

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()
    record_count: int = 0
    fault: str | None = None
    delay_seconds: float = 0.0
    delivery: Delivery = "complete"


def json_response(
    status: int,
    payload: object,
    *,
    record_count: int = 0,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """Serialise `payload` with orjson; pre-serialised items travel inside it as `orjson.Fragment`s."""
    return Response(status, orjson.dumps(payload), headers=headers, record_count=record_count)
