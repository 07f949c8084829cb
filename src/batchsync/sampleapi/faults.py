"""The one place where the sample API will misbehave on purpose: a plan consulted before each answer.

Fault injection (429 with Retry-After, 5xx, hangs, truncated bodies, dropped connections) is not built yet.
When it is, it belongs behind `FaultPlan`: the dispatcher calls `before_collection_response` with the request
and the answer it is about to send, and sends whatever comes back. Faults that are not a different response
(a truncated body, a dropped connection) will need a field on `Response` that `server.py` honours.
"""

from __future__ import annotations

from typing import Protocol

from batchsync.sampleapi.messages import ApiRequest, Response


class FaultPlan(Protocol):
    """Decides, per collection request, whether to send the real answer or a fault in its place."""

    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        """The response to send; return `response` itself to behave normally. Called from handler threads."""
        ...


class NoFaults:
    """The default plan: every answer goes out as the endpoint produced it."""

    def before_collection_response(self, request: ApiRequest, response: Response) -> Response:
        return response
