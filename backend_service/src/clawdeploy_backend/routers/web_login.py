"""``/web/login`` and ``/web/logout``: the browser's way in and out of a web session (see
:mod:`..auth.web_session`).

The password is the backend's API token, compared in constant time. A failed login shows
the form again with 403; a server without a token answers 503 and says how to set one.
"""

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from .. import SERVICE_NAME, __version__
from ..audit import AuditLog
from ..auth.web_session import (
    LOGIN_CSRF_COOKIE,
    CsrfError,
    SessionDep,
    SettingsDep,
    StoreDep,
    check_csrf,
    end_session,
    read_form,
    safe_next,
    set_login_csrf,
    start_session,
    tokens_match,
)
from ..deps import get_audit, get_templates
from ..envelope import get_trace_id

router = APIRouter(prefix="/web", tags=["web"], include_in_schema=False)
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]


def _login_form(
    request: Request,
    templates: Jinja2Templates,
    settings: SettingsDep,
    next_path: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    csrf = secrets.token_urlsafe(32)
    context = {
        "csrf_token": csrf,
        "next": safe_next(next_path),
        "error": error,
        "show_nav": False,
        "service_name": SERVICE_NAME,
        "version": __version__,
        "trace_id": get_trace_id(request),
    }
    response = templates.TemplateResponse(request, "login.html", context, status_code=status_code)
    set_login_csrf(response, csrf, settings)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    settings: SettingsDep,
    templates: TemplatesDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=64)] = None,
) -> Response:
    """Render the login form (with a fresh double-submit CSRF token)."""
    return _login_form(request, templates, settings, next_path or "")


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    templates: TemplatesDep,
    audit: Annotated[AuditLog, Depends(get_audit)],
) -> Response:
    """Check the CSRF pair and the token; on success start a session and 303 to ``next``."""
    form = await read_form(request)
    if not tokens_match(form.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise CsrfError()
    next_path = safe_next(form.get("next"))
    trace_id = get_trace_id(request)
    expected = settings.backend_api_token
    if expected is None:
        error = "BACKEND_API_TOKEN is not set on the server; set it and restart backend-service."
        return _login_form(request, templates, settings, next_path, error, 503)
    if not tokens_match(form.get("token"), expected.get_secret_value()):
        audit.write(trace_id=trace_id, action="web.login", actor="web", outcome="auth_failed")
        error = "That is not the backend's API token (BACKEND_API_TOKEN)."
        return _login_form(request, templates, settings, next_path, error, 403)
    response = RedirectResponse(next_path, status_code=303)
    await run_in_threadpool(start_session, store, settings, response)
    audit.write(trace_id=trace_id, action="web.login", actor="web", outcome="ok")
    return response


@router.post("/logout")
async def logout(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    store: StoreDep,
    audit: Annotated[AuditLog, Depends(get_audit)],
) -> Response:
    """End the session (CSRF-checked) and go back to the login page."""
    check_csrf(session, await read_form(request))
    response = RedirectResponse("/web/login", status_code=303)
    end_session(store, session, settings, response)
    audit.write(trace_id=get_trace_id(request), action="web.logout", actor="web", outcome="ok")
    return response
