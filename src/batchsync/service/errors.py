"""Every error the control API answers has one JSON shape, `{"error": {"code", "message", "details"}}`,
whatever raised it: a route (ApiError), FastAPI's request validation (422, naming the field), an unknown
path (404), or batchsync itself (a config or database error, in its own readable words).

Bad input never becomes a 500: only a bug does, and even then the body says "internal error" and no more
(the traceback goes to the log, which the redactor has already cleaned of secrets).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from batchsync.errors import ConfigError, RunConflictError, SinkError

log = logging.getLogger("batchsync.service")


class ApiError(Exception):
    """An answer other than success, raised from a route."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def not_found(what: str, name: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} named {name!r}")


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "not_allowed",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(part) for part in error["loc"] if part != "body"), "problem": error["msg"]}
            for error in exc.errors()
        ]
        fields = ", ".join(problem["field"] or "body" for problem in problems)
        return JSONResponse(error_body("invalid_request", f"invalid request: {fields}", problems), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(RunConflictError)
    async def conflict(_request: Request, exc: RunConflictError) -> JSONResponse:
        return JSONResponse(error_body("conflict", str(exc)), 409)

    @app.exception_handler(ConfigError)
    async def config_error(_request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", str(exc), list(exc.problems) or None), 400)

    @app.exception_handler(SinkError)
    async def database_error(_request: Request, exc: SinkError) -> JSONResponse:
        return JSONResponse(error_body("database_unavailable", str(exc)), 503)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error answering a request: %r", exc, exc_info=exc)
        return JSONResponse(error_body("internal_error", "internal error (see the service's log)"), 500)
