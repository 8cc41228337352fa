"""Request limits and clean errors: bodies are capped (MAX_CONTENT_LENGTH), query strings and
every text value a callback receives have a length limit, no text a request sends (query,
callback values, JSON or form body) may hold a NUL character, a Dash callback request must have
the shape Dash's renderer sends and name a real callback, and every refusal is a short JSON or
text answer (400, 404, 413) with one log line and no traceback."""

from __future__ import annotations

import logging
from typing import Any

from dash import Dash
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("dugout.http")

DASH_UPDATE = "/_dash-update-component"
QUERY_MAX = 4096  # bytes of query string
VALUE_MAX = 1024  # characters of any one text value (reasons are capped lower, at 500)
ARGS_MAX = 64  # query arguments
JSON_PREFIXES = ("/_dash-", "/api/", "/_reload-hash")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# What a callback raises when the values it was sent have the wrong type or shape.
INPUT_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError)


class MalformedRequest(ValueError):
    """The request is not one this server can use; the message says why, in a few words."""


def error_response(status: int, message: str) -> Response:
    """A short error: JSON for the API and Dash's endpoints, plain text for pages."""
    if request.path.startswith(JSON_PREFIXES) or request.is_json:
        response = jsonify(error=message)
    else:
        response = Response(message + "\n", mimetype="text/plain")
    response.status_code = status
    return response


def _dependency(item: Any, where: str) -> tuple[str, str]:
    if not isinstance(item, dict):
        raise MalformedRequest(f"{where} must be objects with id and property")
    ident, prop = item.get("id"), item.get("property")
    if not isinstance(ident, str | dict) or not isinstance(prop, str):
        raise MalformedRequest(f"{where} must be objects with id and property")
    _check_value(item.get("value"), where)
    return (ident if isinstance(ident, str) else "", prop)


def _check_value(value: Any, where: str, depth: int = 0, max_len: int | None = VALUE_MAX) -> None:
    if depth > 20:
        raise MalformedRequest(f"{where}: a value is nested too deeply")
    if isinstance(value, str):
        if max_len is not None and len(value) > max_len:
            raise MalformedRequest(f"{where}: a text value is longer than {max_len} characters")
        if "\x00" in value:  # no user's text holds one, and PostgreSQL refuses it in any query
            raise MalformedRequest(f"{where}: a text value contains a NUL character")
    elif isinstance(value, list):
        for v in value:
            _check_value(v, where, depth + 1, max_len)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_value(k, where, depth + 1, max_len)
            _check_value(v, where, depth + 1, max_len)


def check_callback_body(body: Any, callbacks: dict[str, Any]) -> None:
    """Refuse a callback request that Dash's renderer would never send."""
    if not isinstance(body, dict):
        raise MalformedRequest("the body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or output not in callbacks:
        raise MalformedRequest("no such callback")
    declared = callbacks[output]
    for part, key in (("inputs", "inputs"), ("state", "state")):
        sent = body.get(key, [])
        if not isinstance(sent, list):
            raise MalformedRequest(f"{part} must be a list")
        got = [_dependency(item, part) for item in sent]
        want = declared.get(key, [])
        if len(got) != len(want):
            raise MalformedRequest(f"{part} do not match the callback")
        for (ident, prop), spec in zip(got, want, strict=True):
            if isinstance(spec.get("id"), str) and (ident, prop) != (spec["id"], spec["property"]):
                raise MalformedRequest(f"{part} do not match the callback")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise MalformedRequest("changedPropIds must be a list of strings")


def _check_body() -> None:
    """The texts a command's body sends: the API's JSON commands read top-level fields alone
    (their own rules cap them), the login form its fields."""
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, str):
                _check_value(value, "body", max_len=None)
    elif request.mimetype in FORM_TYPES:
        for key, value in request.form.items(multi=True):
            _check_value(key, "form", max_len=None)
            _check_value(value, "form", max_len=None)


def init_request_limits(app: Flask, dash_app: Dash, max_content_length: int) -> None:
    """Cap bodies, check query strings and callback requests, and answer errors shortly."""
    app.config["MAX_CONTENT_LENGTH"] = max_content_length
    app.config["MAX_FORM_MEMORY_SIZE"] = min(max_content_length, 64 * 1024)

    @app.before_request
    def _limits() -> Response | None:
        rule = request.url_rule.rule if request.url_rule is not None else None
        if request.path.startswith("/api/") and rule is not None and "<path:" in rule:
            return error_response(404, "not found")  # not Dash's page catch-all
        try:
            if len(request.query_string) > QUERY_MAX or len(request.args) > ARGS_MAX:
                raise MalformedRequest("the query string is too long")
            for key, value in request.args.items(multi=True):
                _check_value(key, "query")
                _check_value(value, "query")
            for value in (request.view_args or {}).values():
                _check_value(value, "path", max_len=None)
            if request.method == "POST" and request.path == DASH_UPDATE:
                check_callback_body(request.get_json(silent=True), dash_app.callback_map)
            elif request.method in ("POST", "PUT", "PATCH", "DELETE"):
                _check_body()
        except MalformedRequest as exc:
            log.warning("malformed request", extra={"path": request.path, "error": str(exc)})
            return error_response(400, str(exc))
        return None

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if exc.code is None or exc.code < 400:
            return exc  # type: ignore[return-value]
        response = error_response(exc.code, exc.name.lower() if exc.code != 400 else "bad request")
        if exc.code == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            response.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if request.path == DASH_UPDATE and isinstance(exc, INPUT_ERRORS):
            log.warning(
                "callback refused values of the wrong type",
                extra={"path": request.path, "error": f"{type(exc).__name__}: {exc}"[:300]},
            )
            return error_response(400, "the callback could not use the values it was sent")
        log.error("unhandled error", exc_info=exc, extra={"path": request.path})
        return error_response(500, "internal error (see the server log for this request id)")
