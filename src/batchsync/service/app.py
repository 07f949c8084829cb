"""The FastAPI application of `batchsync serve`: the control API under /api, /health and /metrics, the
error shape, and the redaction of every body. `create_app` takes a ready `Service`, so tests and the
server build it the same way."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from batchsync import __version__
from batchsync.service import dashboard
from batchsync.service.api import router
from batchsync.service.core import Service
from batchsync.service.errors import install_error_handlers
from batchsync.service.metrics import metrics_registry
from batchsync.service.redacting import RedactBodies
from batchsync.service.sessions import Sessions
from batchsync.service.snapshots import as_json

SESSION_SECRET_VARIABLE = "BATCHSYNC_SESSION_SECRET"


def create_app(service: Service, sessions: Sessions | None = None) -> FastAPI:
    """The app over `service`; the service is closed (its runs stopped at a batch boundary) on shutdown.
    `sessions`: the dashboard's log-ins (default: keyed by `BATCHSYNC_SESSION_SECRET`, or a new key)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far (FastAPI, pydantic, SQLAlchemy, the config) lives as long as the
        # service: out of the collector's sight, a full collection no longer walks it, which cut
        # the slowest answers under load (see docs/service.md, Load).
        gc.collect()
        gc.freeze()
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPI(
        title="batchsync",
        version=__version__,
        description="Control API of `batchsync serve`: start, watch and cancel runs; read history and stats.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.sessions = sessions or Sessions(os.environ.get(SESSION_SECRET_VARIABLE) or None)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=dashboard.HERE / "static"), name="static")
    registry = metrics_registry(service.reader, service.config)

    @app.get("/health", summary="Version, database reachable, runs in progress (no token needed)")
    async def health(request: Request) -> Response:
        current: Service = request.app.state.service
        produce = as_json(current.health)
        body = current.snapshots.kept("health", produce)
        if body is None:
            body = await run_in_threadpool(current.snapshots.get, "health", produce)
        return Response(body, media_type="application/json")

    @app.get(
        "/metrics",
        summary="Prometheus figures, read from the database (no token needed)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
    )
    def metrics() -> Response:
        figures = service.snapshots.get("metrics", lambda: generate_latest(registry))
        return Response(figures, media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RedactBodies, redactor=service.redactor)
    _name_the_pipelines(app, sorted(service.config.pipelines))
    return app


def _name_the_pipelines(app: FastAPI, names: list[str]) -> None:
    """List the config's pipelines as the values of every `{name}` in `/openapi.json`, so the
    interactive docs offer them and a client generated from the schema knows them."""
    describe = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None and names:
            for route in describe()["paths"].values():
                for operation in route.values():
                    for parameter in operation.get("parameters", []):
                        if parameter["in"] == "path" and parameter["name"] == "name":
                            parameter["schema"]["enum"] = names
        return describe()

    app.openapi = openapi  # type: ignore[method-assign]
