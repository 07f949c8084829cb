"""The values passed between the socket handler (`server.py`) and the endpoints, which are plain functions
from an `ApiRequest` to a `Response`, so only `server.py` touches sockets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson


class BadRequestError(Exception):
    """A client error an endpoint answers with a 4xx in its API's own error shape; it never leaves the
    sample API, which is why it is not in `batchsync.errors`."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One parsed HTTP request: query flattened to its last value per name, header names lower-cased."""

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def credentials(self, scheme: str) -> str | None:
        """What follows `<scheme> ` (in any case) in the Authorization header, or None."""
        sent_scheme, _, credentials = (self.header("authorization") or "").strip().partition(" ")
        return credentials.strip() if sent_scheme and sent_scheme.lower() == scheme.lower() else None


@dataclass(frozen=True, slots=True)
class Response:
    """An answer; `record_count` is how many records its body carries."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    record_count: int = 0


def json_response(
    status: int, payload: object, *, record_count: int = 0, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """`payload` serialised by orjson; pre-serialised records travel in it as `orjson.Fragment`s."""
    return Response(status, orjson.dumps(payload), headers=headers, record_count=record_count)
