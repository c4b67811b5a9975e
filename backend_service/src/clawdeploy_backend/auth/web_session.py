"""Login, sessions and CSRF protection of the ``/web`` pages.

Sessions are server-side: the cookie ``clawdeploy_session`` (HttpOnly, SameSite=Strict,
Path=/web, ``Secure`` when ``WEB_COOKIE_SECURE``) holds 256 random bits; the database keeps
only their SHA-256 with an expiry (``WEB_SESSION_TTL_S``) and the session's CSRF token.
Logout deletes the row, so a copied cookie dies with it; a restart keeps people logged in,
unless ``BACKEND_API_TOKEN`` changed: then every session is dropped at startup.

CSRF: every web POST carries a ``csrf_token`` form field compared in constant time with
the session's token (synchronizer token). The login form, which has no session yet, uses a
double-submit token: the same random value in a ``clawdeploy_login_csrf`` cookie
(HttpOnly, SameSite=Strict) and in the form. Forms are parsed from
``application/x-www-form-urlencoded`` with :mod:`urllib.parse` (no multipart dependency).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from ..deps import get_settings, get_store
from ..settings import Settings
from ..store import Store

SESSION_COOKIE = "clawdeploy_session"
LOGIN_CSRF_COOKIE = "clawdeploy_login_csrf"
COOKIE_PATH = "/web"
PAGES = ("/web/status", "/web/models")
MAX_FORM_FIELDS = 20


@dataclass(frozen=True)
class WebSession:
    """A logged-in browser: the hash of its session id and its CSRF token."""

    id_hash: str
    csrf_token: str


class LoginRequiredError(Exception):
    """No valid session; answered with a 303 to the login page (``next`` kept)."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfError(Exception):
    """A web POST without the right CSRF token; answered with 403."""


def hash_session_id(session_id: str) -> str:
    """SHA-256 hex of a session id: what the database keeps."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def token_fingerprint(settings: Settings) -> str:
    """A hash of the API token that tells whether it changed (sessions die with it)."""
    token = settings.backend_api_token
    value = token.get_secret_value() if token is not None else ""
    return hashlib.sha256(f"clawdeploy-web-session:{value}".encode()).hexdigest()


def safe_next(value: str | None) -> str:
    """Where to go after login: one of our pages, never another site (open redirect)."""
    return value if value in PAGES else PAGES[0]


def tokens_match(presented: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two tokens; False when either is missing or empty."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form of ``request`` (first value of each field; bounded count)."""
    body = await request.body()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        return {}
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def current_session(request: Request, store: Store) -> WebSession | None:
    """The live session named by the request's cookie, or None."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or len(session_id) > 128:
        return None
    id_hash = hash_session_id(session_id)
    csrf = store.get_session_csrf(id_hash)
    return WebSession(id_hash, csrf) if csrf is not None else None


def require_web_session(
    request: Request, store: Annotated[Store, Depends(get_store)]
) -> WebSession:
    """FastAPI dependency: the request's session, else :class:`LoginRequiredError`."""
    session = current_session(request, store)
    if session is None:
        raise LoginRequiredError(request.url.path)
    return session


def check_csrf(session: WebSession, form: dict[str, str]) -> None:
    """Raise :class:`CsrfError` unless the form's ``csrf_token`` is the session's."""
    if not tokens_match(form.get("csrf_token"), session.csrf_token):
        raise CsrfError()


def start_session(store: Store, settings: Settings, response: Response) -> None:
    """Create a session in the store and set its cookie on ``response``."""
    session_id = secrets.token_urlsafe(32)
    store.add_session(
        hash_session_id(session_id), secrets.token_urlsafe(32), settings.web_session_ttl_s
    )
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=settings.web_session_ttl_s,
        path=COOKIE_PATH,
        secure=settings.web_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)


def end_session(store: Store, session: WebSession, settings: Settings, response: Response) -> None:
    """Delete the session from the store and expire its cookie."""
    store.delete_session(session.id_hash)
    response.delete_cookie(
        SESSION_COOKIE,
        path=COOKIE_PATH,
        secure=settings.web_cookie_secure,
        httponly=True,
        samesite="strict",
    )


def set_login_csrf(response: Response, token: str, settings: Settings) -> None:
    """Set the double-submit cookie of the login form."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        secure=settings.web_cookie_secure,
        httponly=True,
        samesite="strict",
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequiredError)
    return RedirectResponse(f"/web/login?next={quote(safe_next(exc.next_path))}", 303)


async def _csrf_failed(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(
        "CSRF check failed: reload the page and submit the form again.", status_code=403
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn :class:`LoginRequiredError` / :class:`CsrfError` into
    responses."""
    app.add_exception_handler(LoginRequiredError, _login_required)
    app.add_exception_handler(CsrfError, _csrf_failed)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionDep = Annotated[WebSession, Depends(require_web_session)]
