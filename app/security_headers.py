"""Security headers on every response: a strict Content-Security-Policy built from the Dash
app's own inline-script hashes (no 'unsafe-eval', no 'unsafe-inline' scripts), no framing,
nosniff, a same-origin referrer, and HSTS when the request came over TLS.

One small module rather than flask-talisman (last released 2023): Talisman would also force
HTTPS and rewrite the session cookie, both of which Dugout's own settings already decide
(DUGOUT_SESSION_COOKIE_SECURE, DUGOUT_TRUSTED_PROXIES), so most of it would be switched off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, Response, request

HSTS = "max-age=31536000; includeSubDomains"


def content_security_policy(script_hashes: Iterable[str]) -> str:
    """The policy: our own origin only; inline scripts only when their hash is listed.
    Styles may be inline: Plotly and Dash set element styles at run time."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def init_security_headers(app: Flask, script_hashes: Callable[[], Iterable[str]]) -> None:
    """Add the headers to every response of `app` (error pages included). The hashes are read
    on the first response: Dash adds its pages' inline scripts when it sets itself up then."""
    policy: list[str] = []

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if not policy:
            policy.append(content_security_policy(script_hashes()))
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy[0])
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if request.is_secure:
            headers["Strict-Transport-Security"] = HSTS
        return response
