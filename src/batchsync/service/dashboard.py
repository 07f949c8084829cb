"""The web dashboard at `/`: server-rendered pages (Jinja2) over the same `Service` as the JSON API, with
a little plain JavaScript that polls the API for live progress. No build step: the templates and the
stylesheet ship in the package.

Pages need a session (service/sessions.py): log in once with a token. Buttons are forms that POST here
with the session's CSRF token, then redirect (303) to the page that shows the outcome; the read token's
session sees the pages without the buttons.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from batchsync import __version__
from batchsync.models import Trigger
from batchsync.service.auth import Access
from batchsync.service.core import Service
from batchsync.service.errors import ApiError
from batchsync.service.schemas import RunRequest
from batchsync.service.sessions import COOKIE, MAX_AGE_SECONDS, Session, Sessions, is_same_site_form

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str | None, Form()]


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def _session(request: Request) -> Session | None:
    if not _service(request).tokens.is_enabled:
        return Session(Access.ADMIN, "no-auth")  # --no-auth on loopback: one implicit session
    return _sessions(request).of(request)


def _page(request: Request, template: str, session: Session, **context: Any) -> HTMLResponse:
    context |= {"session": session, "can_change": session.access is Access.ADMIN}
    context["message"] = request.query_params.get("message")
    return templates.TemplateResponse(request, template, context)


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "login.html", {"error": None, "next": request.query_params.get("next", "/")}
    )


@router.post("/login", response_model=None)
def login(
    request: Request, token: Annotated[str, Form()], next_page: Annotated[str, Form(alias="next")] = "/"
) -> Response:
    service = _service(request)
    access = service.tokens.access_of(token) if service.tokens.is_enabled else Access.ADMIN
    if access is None:
        context = {"error": "That token is not valid.", "next": next_page}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    _, cookie = _sessions(request).new(access)
    target = next_page if next_page.startswith("/") and not next_page.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https",
    )
    return response


@router.post("/logout")
def logout() -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse, response_model=None)
async def pipelines_page(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    pipelines = await run_in_threadpool(_service(request).pipelines)
    return _page(request, "pipelines.html", session, pipelines=pipelines)


@router.get("/pipelines/{name}", response_class=HTMLResponse, response_model=None)
async def pipeline_page(request: Request, name: str) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    service = _service(request)

    def read() -> dict[str, Any]:
        return {
            "pipeline": service.pipeline_detail(name),
            "stats": service.stats(name, timedelta(hours=24)),
            "runs": service.runs(pipeline=name, status=None, trigger=None, before=None, limit=20)["items"],
            "errors": service.dead_letters(name, 20, None),
        }

    return _page(request, "pipeline.html", session, **await run_in_threadpool(read))


@router.get("/runs/{run_id}", response_class=HTMLResponse, response_model=None)
async def run_page(request: Request, run_id: str) -> Response:
    session = _session(request)
    if session is None:
        return _to_login(request)
    run = await run_in_threadpool(_service(request).run_detail, run_id)
    return _page(request, "run.html", session, run=run)


def _act(request: Request, csrf: str | None) -> Service:
    """The service, when this form may change something: an admin session, its CSRF token, this site."""
    session = _session(request)
    if session is None:
        raise ApiError(401, "unauthorized", "log in first: /login")
    if session.access is not Access.ADMIN:
        raise ApiError(403, "forbidden", "the read token cannot change anything; log in with the admin token")
    if _service(request).tokens.is_enabled and not is_same_site_form(request, session, csrf):
        raise ApiError(403, "forbidden", "refused: the form did not come from this dashboard (CSRF check)")
    return _service(request)


def _back(path: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?message={quote(message)}", status_code=303)


@router.post("/pipelines/{name}/run")
def run_action(
    request: Request, name: str, csrf: Csrf = None, dry_run: Annotated[bool, Form()] = False
) -> RedirectResponse:
    return _start(request, name, csrf, RunRequest(dry_run=dry_run, trigger=Trigger.MANUAL))


@router.post("/pipelines/{name}/retry-failed")
def retry_action(request: Request, name: str, csrf: Csrf = None) -> RedirectResponse:
    return _start(request, name, csrf, RunRequest(full_refresh=True, trigger=Trigger.MANUAL))


def _start(request: Request, name: str, csrf: str | None, run: RunRequest) -> RedirectResponse:
    """Start the run and show it, or go back to the pipeline saying why not."""
    service = _act(request, csrf)
    try:
        launch = service.start_run(name, run)
    except ApiError as exc:
        return _back(f"/pipelines/{name}", exc.message)
    return RedirectResponse(f"/runs/{launch.run_id}", status_code=303)


@router.post("/pipelines/{name}/reset")
def reset_action(request: Request, name: str, csrf: Csrf = None) -> RedirectResponse:
    service = _act(request, csrf)
    try:
        service.reset(name)
    except ApiError as exc:
        return _back(f"/pipelines/{name}", exc.message)
    return _back(f"/pipelines/{name}", "Checkpoint cleared: the next run starts from the beginning.")


@router.post("/runs/{run_id}/cancel")
def cancel_action(request: Request, run_id: str, csrf: Csrf = None) -> RedirectResponse:
    service = _act(request, csrf)
    try:
        service.cancel(run_id)
    except ApiError as exc:
        return _back(f"/runs/{run_id}", exc.message)
    return _back(f"/runs/{run_id}", "Cancel requested: the run stops at its next batch boundary.")
