"""The fake API's answers: the product sample API's `Response` plus how to misbehave when it is sent.

`fault` names the injected fault for the log (None for an honest answer), `delay_seconds` is waited before
the first byte goes out, and `delivery` says whether the bytes go out whole, cut short or not at all (see
`server.py`). Requests, and the 4xx an endpoint raises, are the product's own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, TypeAlias

from batchsync.sampleapi import messages
from batchsync.sampleapi.messages import ApiRequest, BadRequestError

__all__ = ["ApiRequest", "BadRequestError", "Delivery", "Response", "json_response"]

Delivery: TypeAlias = Literal["complete", "truncated", "dropped"]


@dataclass(frozen=True, slots=True)
class Response(messages.Response):
    """An answer, with the fields the fault plans set (see the module docstring)."""

    fault: str | None = None
    delay_seconds: float = 0.0
    delivery: Delivery = "complete"

    @classmethod
    def of(cls, response: messages.Response) -> Response:
        """`response` as an honest fake API answer (itself when it is one already)."""
        if isinstance(response, cls):
            return response
        return cls(**{field.name: getattr(response, field.name) for field in fields(messages.Response)})


def json_response(
    status: int, payload: object, *, record_count: int = 0, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    return Response.of(messages.json_response(status, payload, record_count=record_count, headers=headers))
