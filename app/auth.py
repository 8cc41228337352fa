"""Login, logout, server-side sessions, throttling, cross-site refusal and role guards."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

import dash
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    jsonify,
    redirect,
    render_template_string,
    request,
    session,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import AnonymousUserMixin, LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from prometheus_client import Counter
from sqlalchemy import select

from app.accounts import ROLE_RANK, find_user, hash_token, role_allows
from app.audit import OUTCOME_DENIED, AuditEntry, append_audit, audit_log
from app.config import Settings
from app.db import Database, get_db, utcnow
from app.denied_audit import DeniedAuditLimiter
from app.deployment import session_cookie_name
from app.extensions import CSRF, DENIED_AUDIT, DENIED_UNCOUNTED, LOGIN_THROTTLE, METRICS, SETTINGS
from app.models import User, UserSession
from app.passwords import verify_password
from app.redirects import login_url, safe_next
from app.requestctx import request_meta
from app.throttle import LoginThrottle, ThrottlePolicy

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("auth", __name__)

# Paths anyone may reach; everything else needs a logged-in user.
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/static/")
PUBLIC_PATHS = {"/login", "/healthz", "/readyz", "/_favicon.ico", "/favicon.ico"}
# Dash's JSON endpoints and our API answer 401 JSON instead of redirecting to the login page.
JSON_PREFIXES = ("/_dash-", "/api/", "/_reload-hash")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
THROTTLE_KINDS = {"pair": "this account from this address", "addr": "this address",
                  "acct": "this account from failing clients"}  # fmt: skip


class CurrentUser:
    """The logged-in person as seen by a request; its id is the server-side session id."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, session_id: str, user: User) -> None:
        self.session_id = session_id
        self.user_id = user.id
        self.username = user.username
        self.role = user.role

    def get_id(self) -> str:
        """flask-login stores this in the cookie: the revocable session id, not the user id."""
        return self.session_id

    def has_role(self, required: str) -> bool:
        """True when this user's role is at least `required`."""
        return role_allows(self.role, required)


class Anonymous(AnonymousUserMixin):
    """Nobody logged in."""

    username = None
    role = None

    def has_role(self, required: str) -> bool:
        """Anonymous users have no role."""
        return False


class _TlsAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request itself came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _settings() -> Settings:
    return SETTINGS.of()


def audit_event(
    action: str,
    outcome: str,
    *,
    target: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
    role: str | None = None,
) -> None:
    """Append an audit record for the current request and user (raises AuditWriteError)."""
    append_audit(
        audit_log(),
        AuditEntry(
            actor=actor or getattr(current_user, "username", None) or "anonymous",
            role=role if role is not None else getattr(current_user, "role", None),
            action=action,
            outcome=outcome,
            target=target,
            reason=reason,
            **request_meta(),
        ),
    )


def audit_denied(action: str, reason: str) -> None:
    """Audit a denied request, within the per-client limit (the excess is counted and written
    as one record when the client's next window opens)."""
    client = request.remote_addr or "unknown"
    write, carried = DENIED_AUDIT.of().admit(client)
    if carried:
        audit_event(
            "denied_requests",
            OUTCOME_DENIED,
            target=client,
            reason=f"{carried} more denied requests from this client were counted, not recorded "
            "one by one",
        )
    if write:
        audit_event(action, OUTCOME_DENIED, target=request.path, reason=reason)
    else:
        DENIED_UNCOUNTED.of().inc()


def _deny(status: int, action: str, message: str) -> Response:
    """Audit a refusal and answer with a plain message."""
    audit_denied(action, message)
    if request.path.startswith(JSON_PREFIXES) or request.is_json:
        resp = jsonify(error=message)
    else:
        resp = Response(message, mimetype="text/plain")
    resp.status_code = status
    return resp


class Access(Enum):
    """The three answers to "may this request act?"."""

    NOT_LOGGED_IN = "not logged in"
    MISSING_ROLE = "missing role"
    ALLOWED = "allowed"


def access_for(required: str) -> Access:
    """What the current request's user may do against `required`."""
    if not current_user.is_authenticated:
        return Access.NOT_LOGGED_IN
    return Access.ALLOWED if current_user.has_role(required) else Access.MISSING_ROLE


def guarded_callback(
    *dependencies: Any, role: str, action: str, **options: Any
) -> Callable[[F], F]:
    """`dash.callback` with its role check built in: the body runs only for a logged-in user
    holding `role`; a refusal is audited and answered 401 (not logged in) or 403 (missing role).

    The guard is the callback (as dash-auth's `protected_callback`), so a privileged callback
    cannot be registered without its check, nor with decorators stacked in the wrong order.
    """
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            access = access_for(role)
            if access is not Access.ALLOWED:
                why = "not logged in" if access is Access.NOT_LOGGED_IN else f"requires role {role}"
                audit_denied(action, why)
                abort(401 if access is Access.NOT_LOGGED_IN else 403)
            return fn(*args, **kwargs)

        guarded.required_role = role  # type: ignore[attr-defined]
        guarded.guard_action = action  # type: ignore[attr-defined]
        dash.callback(*dependencies, **options)(guarded)
        return guarded  # type: ignore[return-value]

    return decorate


def guard_of(fn: Callable[..., Any]) -> str | None:
    """The role a registered callback function is guarded by, or None when unguarded."""
    return getattr(fn, "required_role", None)


def _same_origin(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and parts.netloc == request.host


def _cross_site_refusal() -> str | None:
    """Why an unsafe request looks cross-site, or None when it is same-origin or non-browser."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site and fetch_site not in {"same-origin", "none"}:
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
    origin = request.headers.get("Origin")
    if origin and not _same_origin(origin):
        return "cross-site request refused (Origin does not match this site)"
    return None


def authenticated_by_token() -> bool:
    """True when this request's user was authenticated by an API token (not a cookie)."""
    return bool(current_user.is_authenticated and current_user.session_id.startswith("token:"))


def _load_session(session_id: str) -> CurrentUser | None:
    try:
        sid = uuid.UUID(session_id)
    except ValueError:
        return None
    now = utcnow()
    idle = timedelta(seconds=_settings().session_idle_timeout_s)
    with get_db().session() as db:
        row = db.get(UserSession, sid)
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        if not row.user.is_active:
            return None
        seen = row.last_seen_at or row.created_at
        if seen <= now - idle:  # idle too long: the session ends for good
            row.revoked_at = now
            return None
        if seen <= now - min(idle / 10, timedelta(minutes=1)):  # a write a minute, not a request
            row.last_seen_at = now
        return CurrentUser(str(row.id), row.user)


def _load_from_token(req: Any) -> CurrentUser | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not req.path.startswith("/api/"):
        return None
    with get_db().session() as db:
        user = db.scalar(select(User).where(User.api_token_hash == hash_token(header[7:].strip())))
        if user is None or not user.is_active:
            return None
        return CurrentUser(f"token:{user.id}", user)


def login_throttle(app: Flask | None = None) -> LoginThrottle:
    """The app's login throttle (built by init_auth)."""
    return LOGIN_THROTTLE.of(app)


def init_auth(app: Flask, settings: Settings, db: Database) -> None:
    """Wire login, sessions, CSRF and the login requirement into `app`."""
    app.session_interface = _TlsAwareSessionInterface()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME=session_cookie_name(settings.session_cookie_secure),
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_s),
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,  # the Origin / Sec-Fetch-Site check below covers this
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, after login, for cookie sessions only
    )
    policy = ThrottlePolicy(
        account_free=settings.login_max_failures,
        address_free=settings.login_address_max_failures,
        window_s=settings.login_window_s,
        base_delay_s=settings.login_delay_base_s,
        max_delay_s=settings.login_delay_max_s,
    )
    LOGIN_THROTTLE.put(app, LoginThrottle(db.sessionmaker, policy))  # type: ignore[arg-type]
    DENIED_AUDIT.put(app, DeniedAuditLimiter())
    suppressed = Counter(
        "dugout_audit_denied_suppressed",
        "Denied requests past the per-client audit limit (summed into one record later).",
        registry=METRICS.of(app).registry,
    )
    DENIED_UNCOUNTED.put(app, suppressed)
    manager = LoginManager()
    manager.anonymous_user = Anonymous
    manager.session_protection = None  # our own server-side sessions replace it
    manager.user_loader(_load_session)
    manager.request_loader(_load_from_token)
    manager.init_app(app)
    csrf = CSRF.put(app, CSRFProtect(app))

    @app.before_request
    def _refuse_cross_site() -> Response | None:
        if request.method in UNSAFE_METHODS:
            reason = _cross_site_refusal()
            if reason:
                return _deny(403, "cross_site_request", reason)
        return None

    @app.before_request
    def _require_login() -> Response | None:
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return None
        if current_user.is_authenticated:
            return None
        if path.startswith(JSON_PREFIXES):
            return Response('{"error": "login required"}', 401, mimetype="application/json")
        return redirect(login_url(path))  # type: ignore[return-value]

    @app.before_request
    def _check_csrf() -> None:
        # Authentication is decided once (flask-login's loaders): only a request that a token
        # authenticated, and that presents no session cookie, skips the CSRF check. A Bearer
        # header that authenticates nothing counts for nothing.
        if request.method not in UNSAFE_METHODS:
            return
        presents_cookie = app.config["SESSION_COOKIE_NAME"] in request.cookies
        if not presents_cookie and authenticated_by_token():
            return
        csrf.protect()

    @app.after_request
    def _csrf_cookie(response: Response) -> Response:
        # Dash's renderer sends this cookie back as the X-CSRFToken header on every callback.
        # A token-authenticated API call gets none: its token would go into a session cookie,
        # and a client keeping cookies would then be asked for a CSRF header it never needs.
        if authenticated_by_token():
            return response
        if current_user.is_authenticated or request.path == "/login":
            response.set_cookie(
                "_csrf_token",
                generate_csrf(),
                samesite="Lax",
                secure=request.is_secure or settings.session_cookie_secure,
                httponly=False,
            )
        return response

    @app.errorhandler(CSRFError)
    def _csrf_failed(exc: CSRFError) -> Response:
        return _deny(400, "csrf_check", f"request refused: {exc.description}")

    app.register_blueprint(bp)


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Dugout</title>
<link rel="stylesheet" href="/assets/00-bootstrap.min.css">
<link rel="stylesheet" href="/assets/dugout.css">
</head><body class="login-body">
<main class="login-card card shadow-sm">
  <div class="card-body p-4">
    <h1 class="h4 mb-1">Dugout</h1>
    <p class="text-muted small mb-4">MLB betting pipelines control room</p>
    {% if message %}<div class="alert alert-{{ level }} py-2" role="alert">{{ message }}</div>{% endif %}
    <form method="post" action="/login" autocomplete="on">
      <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
      <input type="hidden" name="next" value="{{ next }}">
      <div class="mb-3"><label class="form-label" for="username">Username</label>
        <input class="form-control" id="username" name="username" required autofocus
               autocomplete="username" value="{{ username }}"></div>
      <div class="mb-3"><label class="form-label" for="password">Password</label>
        <input class="form-control" id="password" name="password" type="password" required
               autocomplete="current-password"></div>
      <button class="btn btn-primary w-100" type="submit" id="login-submit">Sign in</button>
    </form>
  </div>
</main></body></html>"""


def _login_page(
    status: int = 200, message: str = "", level: str = "danger", username: str = ""
) -> Response:
    html = render_template_string(
        LOGIN_PAGE,
        message=message,
        level=level,
        username=username,
        next=safe_next(request.values.get("next")),
    )
    return Response(html, status=status, mimetype="text/html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Show the form; on POST check throttling, then the password, then open a new session."""
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(safe_next(request.args.get("next")))  # type: ignore[return-value]
        return _login_page()
    settings = _settings()
    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    address = request.remote_addr or "unknown"
    throttle = login_throttle()
    admission = throttle.admit(username, address)
    if admission.started:  # a slow-down is audited once, when it begins
        kinds = ", ".join(THROTTLE_KINDS[key.split(":", 1)[0]] for key in admission.started)
        audit_event(
            "login",
            "throttled",
            actor=username or "anonymous",
            role="",
            target="/login",
            reason=f"too many failed logins: slowing down {kinds}",
        )
    if not admission.allowed:
        page = _login_page(
            429,
            "Too many failed sign-in attempts for this account from here. "
            f"Try again in {admission.retry_after_s} seconds.",
            username=username,
        )
        page.headers["Retry-After"] = str(admission.retry_after_s)
        return page
    now = utcnow()
    with get_db().session() as db:
        user = find_user(db, username) if username else None
        ok = verify_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            audit_event(
                "login",
                "failed",
                actor=username or "anonymous",
                role="",
                target="/login",
                reason="bad credentials",
            )
            return _login_page(401, "Wrong username or password.", username=username)
        throttle.succeeded(username, address)
        user.last_login_at = now
        row = UserSession(
            user_id=user.id,
            expires_at=now + timedelta(seconds=settings.session_lifetime_s),
            source_ip=request.remote_addr,
            user_agent=(request.user_agent.string or "")[:255],
        )
        db.add(row)
        db.flush()
        person = CurrentUser(str(row.id), user)
    session.clear()  # a fresh cookie: nothing from before login survives (no fixation)
    session.permanent = True
    login_user(person)
    audit_event("login", "succeeded", actor=person.username, role=person.role, target="/login")
    return redirect(safe_next(request.form.get("next")))  # type: ignore[return-value]


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Response:
    """Revoke the server-side session, so even a copied cookie stops working."""
    if current_user.is_authenticated and not current_user.session_id.startswith("token:"):
        with get_db().session() as db:
            row = db.get(UserSession, uuid.UUID(current_user.session_id))
            if row is not None and row.revoked_at is None:
                row.revoked_at = utcnow()
        audit_event("logout", "succeeded", target="/logout")
    logout_user()
    session.clear()
    resp = redirect("/login")
    resp.delete_cookie("_csrf_token")
    return resp  # type: ignore[return-value]
