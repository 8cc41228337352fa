"""Where to go after signing in: only a same-origin path, judged after the normalisation
Werkzeug applies to a Location header (it drops tab, CR and LF, so "/\\t/evil" would leave as
"//evil"), so what is checked is exactly what the browser is sent."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from werkzeug.urls import iri_to_uri

NEXT_MAX = 2048  # characters; a longer `next` is not a page of ours
FALLBACK = "/"


def safe_next(target: str | None) -> str:
    """`target` as the Location Werkzeug will send, when it is a path on this site; else "/"."""
    if not target or len(target) > NEXT_MAX:
        return FALLBACK
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target) or "\\" in target:
        return FALLBACK
    if not target.startswith("/") or target.startswith("//"):
        return FALLBACK
    try:
        location = iri_to_uri(target)
    except ValueError:  # an unparsable authority part
        return FALLBACK
    parts = urlsplit(location)
    if parts.scheme or parts.netloc or not location.startswith("/") or location.startswith("//"):
        return FALLBACK
    return location


def login_url(path: str) -> str:
    """The login page, asked to come back to `path` (quoted, so no byte of it reaches a header raw)."""
    return "/login?" + urlencode({"next": safe_next(path)})
