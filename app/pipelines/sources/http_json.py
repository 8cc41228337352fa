"""JSON over HTTP for the real sources: one GET that maps every failure to a typed SourceError."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.observability.http_spans import TracedTransport
from app.pipelines.sources.base import (
    SourceAuthError,
    SourceBadRequest,
    SourceError,
    SourcePayloadError,
    SourceRateLimited,
    SourceTimeout,
    SourceUnavailable,
)


class SecretQueryTransport(httpx.BaseTransport):
    """Adds a secret query parameter below the client, so httpx's request log never shows it.

    httpx logs `request.url` of the request the client built; this transport sends a copy with
    the secret added and the client keeps (and logs, and attaches to errors) the original.
    """

    def __init__(self, inner: httpx.BaseTransport, param: str, secret: str) -> None:
        self._inner = inner
        self._param = param
        self._secret = secret

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward a copy of the request carrying the secret parameter."""
        signed = httpx.Request(
            request.method,
            request.url.copy_merge_params({self._param: self._secret}),
            headers=request.headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self._inner.handle_request(signed)

    def close(self) -> None:
        """Close the wrapped transport."""
        self._inner.close()

    def __repr__(self) -> str:
        """Never show the secret."""
        return f"SecretQueryTransport(param={self._param!r})"


def build_client(
    base_url: str,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
    secret_param: tuple[str, str] | None = None,
) -> httpx.Client:
    """An httpx client asking for gzip, with an optional secret query parameter on every call.

    Each request gets a client span from TracedTransport, wrapped above the secret transport, so
    the span (like httpx's log) only ever sees the URL without the secret.
    """
    inner = transport or httpx.HTTPTransport()
    if secret_param is not None:
        inner = SecretQueryTransport(inner, *secret_param)
    inner = TracedTransport(inner)
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout),
        transport=inner,
        headers={"Accept-Encoding": "gzip", "Accept": "application/json"},
        follow_redirects=False,
    )


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP date; None when absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return max(0.0, seconds) if math.isfinite(seconds) else None


def get_json(
    client: httpx.Client,
    path: str,
    params: Mapping[str, str],
    *,
    source: str,
    title: str,
    now: datetime,
) -> tuple[Any, httpx.Response]:
    """GET `path` and decode JSON; every failure raises the SourceError subclass that fits it."""
    try:
        response = client.get(path, params=dict(params))
    except httpx.TimeoutException:
        raise SourceTimeout(source, f"{title} did not answer in time.") from None
    except httpx.DecodingError:
        raise SourcePayloadError(
            source, f"{title} sent a compressed body that could not be decoded."
        ) from None
    except httpx.TransportError as exc:
        raise SourceUnavailable(
            source, f"{title} could not be reached ({type(exc).__name__}).", None
        ) from None
    _raise_for_status(response, source=source, title=title, now=now)
    try:
        return response.json(), response
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SourcePayloadError(source, f"{title} sent a response that is not JSON.") from None


def _raise_for_status(response: httpx.Response, *, source: str, title: str, now: datetime) -> None:
    """Map a non-200 status to its typed error."""
    status = response.status_code
    if status == 200:
        return
    if status in (401, 403):
        raise SourceAuthError(source, f"{title} refused the API credentials (HTTP {status}).")
    if status in (400, 422):
        raise SourceBadRequest(source, f"{title} rejected the request parameters (HTTP {status}).")
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
        when = "later" if retry_after is None else f"in {retry_after:g} s"
        raise SourceRateLimited(
            source, f"{title} is rate limiting us (HTTP 429); try again {when}.", retry_after
        )
    if status >= 500:
        raise SourceUnavailable(source, f"{title} is unavailable (HTTP {status}).", status)
    raise SourceError(source, f"{title} answered with unexpected HTTP {status}.")
