"""Security headers on every response (before the fix no page sent any of them)."""

from __future__ import annotations


def test_every_response_carries_the_headers(anon, login_as) -> None:
    viewer = login_as("viewer")
    for response in (anon.http.get("/login"), anon.http.get("/healthz"), viewer.http.get("/"),
                     viewer.http.get("/api/nothing"), anon.http.get("/")):  # fmt: skip
        h = response.headers
        policy = h["Content-Security-Policy"]
        script_src = policy.split("script-src", 1)[1].split(";", 1)[0]
        assert "'unsafe-inline'" not in script_src and "unsafe-eval" not in policy
        assert "'sha256-" in script_src and "frame-ancestors 'none'" in policy
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in h  # plain HTTP: no HSTS


def test_hsts_only_over_tls(app) -> None:
    r = app.test_client().get("/healthz", base_url="https://dugout.example")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_every_inline_script_of_the_page_is_allowed_by_hash(login_as) -> None:
    import base64
    import hashlib
    import re

    r = login_as("viewer").http.get("/")
    policy = r.headers["Content-Security-Policy"]
    html = r.get_data(as_text=True)
    html = re.sub(r"<!--\[if IE\]>.*?<!\[endif\]-->", "", html, flags=re.S)  # never run
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        if "src=" in attrs or "application/json" in attrs:
            continue
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy, body[:60]
