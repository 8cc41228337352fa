"""Lighter pages: compressed responses (Flask-Compress: brotli, zstd or gzip, as the browser
accepts), each fingerprinted bundle compressed once and kept in memory, and a year-long
immutable cache for what Dash fingerprints (its component bundles, and `/assets/` files, whose
URLs carry their modification time), so a second visit downloads no JavaScript at all.

Plotly: `assets/plotly_partial.js` points dcc.Graph at plotly.js's cartesian partial bundle
(`PLOTLY_BUNDLE`, vendored under `assets/vendor/`, which Dash does not include in every page)
instead of the full one: a third of the bytes, loaded only by a page that shows a chart."""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Flask, Request, Response, request
from flask_compress import Compress

YEAR_S = 365 * 24 * 3600
COMPRESSIBLE = (
    "text/html",
    "text/css",
    "text/plain",
    "text/javascript",
    "application/javascript",
    "application/json",
    "image/svg+xml",
)
# The partial bundle dcc.Graph loads (its version must be plotly.py's plotly.js version: the
# figures are built for that schema); the traces it draws are those its file registers.
PLOTLY_BUNDLE = "vendor/plotly-cartesian-4.1.1.min.js"
ASSETS_NOT_INCLUDED = ["vendor"]  # served when asked for, never a tag in every page
CACHED_ENTRIES = 64  # compressed bundles kept (a page loads about 15, Plotly's chunk included)


def fingerprinted(req: Request) -> bool:
    """Whether the URL names one version of a file for ever (Dash's `.v<version>m<mtime>.`
    bundles, or an asset with its `?m=<mtime>` stamp)."""
    if req.path.startswith("/_dash-component-suites/"):
        return ".v" in req.path.rsplit("/", 1)[-1]
    return req.path.startswith("/assets/") and "m" in req.args


class FingerprintedCache:
    """Flask-Compress's cache backend: compressed bodies of fingerprinted URLs only (any other
    response is compressed afresh), a bounded number of them, least recently used first out."""

    def __init__(self, entries: int = CACHED_ENTRIES) -> None:
        self.entries = entries
        self._store: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._store.get(key)
            if found is not None:
                self._store.move_to_end(key)
            return found

    def set(self, key: str, value: bytes) -> None:
        if not key.endswith("#fingerprinted"):
            return
        with self._lock:
            self._store[key] = value
            self._store.move_to_end(key)
            while len(self._store) > self.entries:
                self._store.popitem(last=False)


def _cache_key(req: Request) -> str:
    return f"{req.full_path}#fingerprinted" if fingerprinted(req) else f"{id(req)}"


def _long_cache(response: Response) -> Response:
    """A fingerprinted file never changes under its URL: cache it for a year, unrevalidated.
    A static file Flask streams is read into the body first, so it is compressed (and kept
    compressed) like Dash's bundles rather than streamed."""
    if response.status_code == 200 and fingerprinted(request):
        response.headers["Cache-Control"] = f"public, max-age={YEAR_S}, immutable"
        if response.is_streamed:
            response.direct_passthrough = False
            response.set_data(response.get_data())
    return response


def init_page_weight(server: Flask) -> None:
    """Compress responses and cache fingerprinted files for a year."""
    server.config.setdefault("COMPRESS_MIMETYPES", list(COMPRESSIBLE))
    server.config.setdefault("COMPRESS_ALGORITHM", ["br", "zstd", "gzip"])
    server.config.setdefault("COMPRESS_STREAMS", False)  # nothing of ours streams
    server.config.setdefault("COMPRESS_BR_LEVEL", 5)  # once per bundle (cached), then free
    server.config.setdefault("COMPRESS_CACHE_BACKEND", FingerprintedCache)
    server.config.setdefault("COMPRESS_CACHE_KEY", _cache_key)
    Compress(server)
    server.after_request(_long_cache)
