"""What the sample API's endpoints trade in: they are plain functions from an `ApiRequest` to a `Response`,
so only `server.py` touches sockets. Paged answers all take Zoho's shape (`zoho_page`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import orjson

MAX_PAGE_SIZE = 1000  # a larger page size is a 400, as real APIs cap them
Entry = TypeVar("Entry")


class BadRequestError(Exception):
    """A parameter an endpoint refuses with a 400; it never leaves the sample API (so not in `errors.py`)."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


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


def read_int(
    query: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int | None = None
) -> int:
    """Integer parameter `name`, `default` when absent; raises BadRequestError below `minimum` or, when
    `maximum` is set, above it."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be an integer, got {raw!r}", param=name) from None
    if value < minimum:
        raise BadRequestError(f"{name} must be >= {minimum}, got {value}", param=name)
    if maximum is not None and value > maximum:
        raise BadRequestError(f"{name} must be <= {maximum}, got {value}", param=name)
    return value


def read_page(query: Mapping[str, str], max_page_size: int) -> tuple[int, int]:
    """`(page, per_page)` from `?page=&per_page=`, by default the first page of 200."""
    per_page = read_int(query, "per_page", default=min(200, max_page_size), minimum=1, maximum=max_page_size)
    return read_int(query, "page", default=1, minimum=1), per_page


def zoho_page(name: str, records: list[orjson.Fragment], page: int, per_page: int, total: int) -> Response:
    """`{"code": 0, "message": "success", <name>: records, "page_context": {"page": 1, "per_page": 200,
    "has_more_page": true, "total": 1003, "total_pages": 6}}`, for page `page` of `total` records."""
    more, pages = page * per_page < total, -(-total // per_page)
    context = {
        "page": page,
        "per_page": per_page,
        "has_more_page": more,
        "total": total,
        "total_pages": pages,
    }
    payload = {"code": 0, "message": "success", name: records, "page_context": context}
    return json_response(200, payload, record_count=len(records))


def respond_page(
    request: ApiRequest,
    name: str,
    entries: Sequence[Entry],
    json_of: Callable[[Entry], bytes],
    max_page_size: int,
) -> Response:
    """The page of `entries` that `?page=&per_page=` asks for, under `name`, or a 400. Only that page's
    entries are turned into their pre-serialised JSON (`json_of`): a page costs one join."""
    try:
        page, per_page = read_page(request.query, max_page_size)
    except BadRequestError as error:
        return bad_request(error)
    selected = [orjson.Fragment(json_of(entry)) for entry in entries[(page - 1) * per_page : page * per_page]]
    return zoho_page(name, selected, page, per_page, len(entries))


def bad_request(error: BadRequestError) -> Response:
    """`error` answered as Zoho does."""
    return json_response(400, {"code": 2, "message": error.message})
