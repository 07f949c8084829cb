"""The control API's routes: JSON in and out, each a thin translation of a `Service` method. GET routes
need the read or the admin token; the others the admin token (service/auth.py)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from batchsync.errors import ConfigError
from batchsync.models import JSONObject, RunStatus, Trigger
from batchsync.operations import parse_duration
from batchsync.service.auth import Access, check_access
from batchsync.service.core import Service
from batchsync.service.errors import ApiError
from batchsync.service.pool import Launch
from batchsync.service.schemas import ErrorBody, RunRequest
from batchsync.service.snapshots import as_json

_bearer = HTTPBearer(auto_error=False, description="BATCHSYNC_ADMIN_TOKEN, or BATCHSYNC_READ_TOKEN for GET")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The request cannot be run as asked."),
        (401, "No token, or a wrong one."),
        (403, "The read token on a route that changes something."),
        (404, "No such pipeline or run."),
        (409, "Already running, or not running."),
        (422, "The body or a parameter is invalid."),
        (503, "The database is unavailable."),
    )
}


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def reader(request: Request, credentials: Credentials) -> Service:
    """The read token, the admin token, or a dashboard session (the dashboard's live progress reads
    these routes with its cookie; routes that change something never take the cookie)."""
    service = service_of(request)
    if credentials is None and request.app.state.sessions.of(request) is not None:
        return service
    check_access(service.tokens, credentials.credentials if credentials else None, Access.READ)
    return service


async def admin(request: Request, credentials: Credentials) -> Service:
    service = service_of(request)
    check_access(service.tokens, credentials.credentials if credentials else None, Access.ADMIN)
    return service


Reader = Annotated[Service, Depends(reader)]
Admin = Annotated[Service, Depends(admin)]
Wait = Annotated[bool, Query(description="Answer when the run has ended, with its full result.")]

router = APIRouter(prefix="/api", responses=_ERRORS)


@router.get("/pipelines", summary="Every pipeline: kind, state, last run, rows, the running run")
async def list_pipelines(service: Reader) -> Response:
    return await _answer(service, "pipelines", lambda: {"items": service.pipelines()})


@router.get("/pipelines/{name}", summary="One pipeline: checkpoint, table, last and running run")
async def get_pipeline(name: str, service: Reader) -> Response:
    return await _answer(service, ("pipeline", name), lambda: service.pipeline_detail(name))


@router.post(
    "/pipelines/{name}/runs",
    status_code=202,
    summary="Start a run (in the background, or with ?wait=true until it ends)",
    responses={200: {"description": "With wait=true: the run's full result."}},
)
def start_run(name: str, service: Admin, body: RunRequest | None = None, wait: Wait = False) -> JSONResponse:
    launch = service.start_run(name, body or RunRequest())
    return _started(service, launch, wait)


@router.post(
    "/pipelines/{name}/retry-failed",
    status_code=202,
    summary="A full pass that gives every dead letter another chance",
    responses={200: {"description": "With wait=true: the run's result and the dead letters left."}},
)
def retry_failed(name: str, service: Admin, wait: Wait = False) -> JSONResponse:
    launch = service.start_run(name, RunRequest(full_refresh=True))
    response = _started(service, launch, wait)
    if wait:
        body: dict[str, Any] = dict(service.wait_for(launch))
        body["dead_letters_remaining"] = service.dead_letters(name, 1, None)["total"]
        return JSONResponse(body, 200)
    return response


def _started(service: Service, launch: Launch, wait: bool) -> JSONResponse:
    if wait:
        return JSONResponse(service.wait_for(launch), 200)
    body = {
        "run_id": launch.run_id,
        "status": "started",
        "links": {
            "self": f"/api/runs/{launch.run_id}",
            "cancel": f"/api/runs/{launch.run_id}/cancel",
            "pipeline": f"/api/pipelines/{launch.pipeline}",
        },
    }
    return JSONResponse(body, 202, headers={"Location": f"/api/runs/{launch.run_id}"})


@router.post("/pipelines/{name}/reset", summary="Forget the checkpoints, the units' too (rows stay)")
def reset(name: str, service: Admin) -> dict[str, Any]:
    return service.reset(name)


@router.get("/pipelines/{name}/stats", summary="Rows, stale rows, deleted rows, rows in error")
async def stats(
    name: str,
    service: Reader,
    stale_after: Annotated[str, Query(description="e.g. 90s, 30m, 24h, 7d", max_length=20)] = "24h",
) -> Response:
    try:
        after = parse_duration(stale_after)
    except ConfigError as exc:
        raise ApiError(
            422, "invalid_request", str(exc), [{"field": "stale_after", "problem": str(exc)}]
        ) from None
    return await _answer(service, ("stats", name, after), lambda: service.stats(name, after))


@router.get("/pipelines/{name}/errors", summary="The pipeline's dead letters, newest first")
async def dead_letters(
    name: str,
    service: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Page on from an earlier page's last id.")
    ] = None,
) -> Response:
    key = ("errors", name, limit, before_id)
    return await _answer(service, key, lambda: service.dead_letters(name, limit, before_id))


@router.get("/runs", summary="Run history, newest first, wherever each run was started")
async def list_runs(
    service: Reader,
    pipeline: Annotated[str | None, Query(max_length=200)] = None,
    status: RunStatus | None = None,
    trigger: Trigger | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before: Annotated[str | None, Query(max_length=40, description="An earlier page's next_before.")] = None,
) -> Response:
    status_value, trigger_value = (status.value if status else None), (trigger.value if trigger else None)

    def page() -> dict[str, Any]:
        return service.runs(
            pipeline=pipeline, status=status_value, trigger=trigger_value, before=before, limit=limit
        )

    return await _answer(service, ("runs", pipeline, status_value, trigger_value, before, limit), page)


@router.get("/runs/{run_id}", summary="One run: counts, progress, entities, failed keys, errors, drift")
async def get_run(run_id: str, service: Reader) -> Response:
    return await _answer(service, ("run", run_id), lambda: service.run_detail(run_id))


@router.post(
    "/runs/{run_id}/cancel",
    status_code=202,
    summary="Stop a running run at its next batch boundary, checkpoint saved",
)
def cancel_run(run_id: str, service: Admin) -> dict[str, Any]:
    return service.cancel(run_id)


async def _answer(service: Service, key: Hashable, compute: Callable[[], JSONObject]) -> Response:
    """A read route's answer: the kept one at once, without leaving the event loop; the first time,
    computed on a worker thread (the database calls block). See service/snapshots.py."""
    produce = as_json(compute)
    body = service.snapshots.kept(key, produce)
    if body is None:
        body = await run_in_threadpool(service.snapshots.get, key, produce)
    return Response(body, media_type="application/json")
