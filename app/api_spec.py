"""The OpenAPI 3 description of the JSON API, published at /api/openapi.json (schemathesis
tests the API against it)."""

from __future__ import annotations

from typing import Any

from app.audit import REASON_MAX
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


NO_NUL = "^[^\\u0000]*$"  # no text a request sends may hold NUL (app/request_limits.py)
_TEXT = {"type": "string", "maxLength": 64, "pattern": NO_NUL}
_NAME = {"name": "name", "in": "path", "required": True, "schema": _TEXT}
_REASON = {
    "type": "string",
    "maxLength": REASON_MAX,
    "pattern": NO_NUL,
    "description": "Why (required; audited)",
}
_WAIT = {
    "type": "number",
    "minimum": 0,
    "maximum": 30,
    "description": "Seconds to wait for the scheduler leader to apply it (default 0)",
}


def _action_body(extra: dict[str, Any] | None = None, required: tuple[str, ...] = ()) -> Any:
    properties = {"reason": _REASON, "wait_s": _WAIT, **(extra or {})}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": properties,
                    "required": ["reason", *required],
                }
            }
        },
    }


# Break-glass: 403 for a role that may not (audited), 400 for no reason, 409 under the kill
# switch, 503 when the audit log cannot be written (then nothing happened).
_COMMAND_ANSWERS = {
    "200": _ok("Applied, failed or expired within wait_s: the command with its result"),
    "202": _ok("Audited and queued for the scheduler leader: the command, pending"),
    **_errors("400", "403", "404", "503"),
}
BREAKGLASS_PATHS: dict[str, Any] = {
    "/api/jobs": {
        "get": {
            "summary": "Scheduled jobs, the leader, the kill switch",
            "responses": {"200": _ok("Jobs"), **_errors()},
        }
    },
    "/api/jobs/{name}/pause": {
        "post": {
            "summary": "Pause a job (operator, reason required, audited)",
            "parameters": [_NAME],
            "requestBody": _action_body(),
            "responses": _COMMAND_ANSWERS,
        }
    },
    "/api/jobs/{name}/resume": {
        "post": {
            "summary": "Resume a job (operator, reason required, audited)",
            "parameters": [_NAME],
            "requestBody": _action_body(),
            "responses": _COMMAND_ANSWERS,
        }
    },
    "/api/jobs/{name}/run": {
        "post": {
            "summary": "Run a job's pipeline (or a pipeline) now (operator; admin only under "
            "the kill switch; reason required, audited)",
            "parameters": [_NAME],
            "requestBody": _action_body(),
            "responses": {
                "202": _ok("Audited and dispatched: the run id"),
                **_errors("400", "403", "404", "409", "503"),
            },
        }
    },
    "/api/breakers": {
        "get": {"summary": "Circuit breakers", "responses": {"200": _ok("Breakers"), **_errors()}}
    },
    "/api/breakers/{name}/reset": {
        "post": {
            "summary": "Close a circuit breaker (operator, reason required, audited)",
            "parameters": [_NAME],
            "requestBody": _action_body(),
            "responses": _COMMAND_ANSWERS,
        }
    },
    "/api/kill-switch": {
        "get": {
            "summary": "Whether the kill switch is engaged, since when, by whom, why",
            "responses": {"200": _ok("The kill switch"), **_errors()},
        },
        "post": {
            "summary": "Engage or lift the kill switch (admin, reason required, audited)",
            "requestBody": _action_body(
                {"action": {"type": "string", "enum": ["engage", "lift"]}}, ("action",)
            ),
            "responses": _COMMAND_ANSWERS,
        },
    },
    "/api/commands/{command_id}": {
        "get": {
            "summary": "Where a command stands and its result",
            "parameters": [
                {
                    "name": "command_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                }
            ],
            "responses": {"200": _ok("The command"), **_errors("400", "404")},
        }
    },
}
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
        **BREAKGLASS_PATHS,
        "/api/health": {
            "get": {
                "summary": "Every dependency's state",
                "responses": {"200": _ok("The report"), "503": _ok("Down"), **_errors()},
            }
        },
    },
}
