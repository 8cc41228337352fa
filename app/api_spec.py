"""The OpenAPI 3 description of the JSON API, published at /api/openapi.json (schemathesis
tests the API against it)."""

from __future__ import annotations

from typing import Any

from app.vocabulary import Pipeline, RunStatus, Trigger

_ERROR = {
    "description": "A short error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
_OBJECT = {"application/json": {"schema": {"type": "object"}}}


def _ok(description: str) -> dict[str, Any]:
    return {"description": description, "content": _OBJECT}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _ERROR for code in ("401", *codes)}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


_TEXT = {"type": "string", "maxLength": 64}
OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Dugout API", "version": "1"},
    "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    "security": [{"token": []}],
    "paths": {
        "/api/runs": {
            "get": {
                "summary": "Runs, newest first, filtered and paged",
                "parameters": [
                    _query(
                        "pipeline",
                        {"type": "string", "enum": [p.value for p in Pipeline]},
                        "pipeline",
                    ),
                    _query(
                        "trigger", {"type": "string", "enum": [t.value for t in Trigger]}, "trigger"
                    ),
                    _query(
                        "status", {"type": "string", "enum": [s.value for s in RunStatus]}, "status"
                    ),
                    _query(
                        "since", {"type": "string", "format": "date-time"}, "created at or after"
                    ),
                    _query("until", {"type": "string", "format": "date-time"}, "created before"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "page size"),
                    _query(
                        "offset",
                        {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                        "skip this many",
                    ),
                ],
                "responses": {"200": _ok("A page of runs"), **_errors("400")},
            }
        },
        "/api/runs/{run_id}": {
            "get": {
                "summary": "One run with stages, errors and retries",
                "parameters": [
                    {
                        "name": "run_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "responses": {"200": _ok("The run"), **_errors("400", "404")},
            }
        },
        "/api/alerts": {
            "get": {
                "summary": "Alerts, newest first",
                "parameters": [
                    _query(
                        "status", {"type": "string", "enum": ["firing", "resolved", "all"]}, "which"
                    ),
                    _query("severity", _TEXT, "severity"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "how many"),
                ],
                "responses": {"200": _ok("Alerts"), **_errors("400")},
            }
        },
        "/api/slo": {
            "get": {"summary": "Every SLO", "responses": {"200": _ok("SLOs"), **_errors()}}
        },
        "/api/status": {
            "get": {
                "summary": "Health, SLOs, alerts, sources, recent runs",
                "responses": {"200": _ok("Up or degraded"), "503": _ok("Down"), **_errors()},
            }
        },
        "/api/health": {
            "get": {
                "summary": "Every dependency's state",
                "responses": {"200": _ok("The report"), "503": _ok("Down"), **_errors()},
            }
        },
    },
}
