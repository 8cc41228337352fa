"""Deployment settings of the web server: trusted proxies (ProxyFix), allowed Host headers,
forced Secure cookies with the __Host- prefix, and private (0600) files for the SQLite database
and its WAL."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.utils import host_is_trusted

SESSION_COOKIE = "dugout_session"
SECURE_SESSION_COOKIE = "__Host-dugout_session"  # Secure, Path=/, no Domain: the browser insists


def session_cookie_name(force_secure: bool) -> str:
    """The session cookie's name: with the __Host- prefix whenever cookies are forced Secure."""
    return SECURE_SESSION_COOKIE if force_secure else SESSION_COOKIE


def trust_proxies(app: Flask, hops: int) -> None:
    """Believe X-Forwarded-For/-Proto/-Host/-Port from `hops` proxies in front (0: none)."""
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


def allow_hosts(app: Flask, hosts: list[str]) -> None:
    """Refuse any Host header not in `hosts` with a short 400 (empty list: allow any)."""
    if not hosts:
        return

    @app.before_request
    def _check_host() -> Response | None:
        host = request.environ.get("HTTP_HOST") or request.environ.get("SERVER_NAME", "")
        if not host_is_trusted(host, hosts):
            return Response("host not allowed\n", 400, mimetype="text/plain")
        return None


def private_sqlite_files(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (its -wal and -shm files take the main
    file's mode), and tighten the mode of files made earlier."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if name.exists():
            name.chmod(0o600)
