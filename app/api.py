"""JSON API for tools and the CLI: runs (filters, paging), one run with stages and retries,
alerts, SLOs and the status picture. Login (session or API token) is enforced by app.auth."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.orm import Session

from app.api_spec import OPENAPI
from app.db import get_db
from app.extensions import READINESS
from app.observability.slo import slo_reports
from app.observability.status import alert_dict, build_status
from app.pipelines.context import system_clock
from app.queries.alerts import alerts
from app.queries.runs import RunQuery, matching_runs, run_with_stages
from app.vocabulary import Pipeline, RunStatus, Trigger

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_LIMIT = 200


class BadRequest(ValueError):
    """A query parameter the API cannot use; the message says which and why."""


@bp.errorhandler(BadRequest)
def _bad_request(exc: BadRequest) -> tuple[Response, int]:
    return jsonify(error=str(exc)), 400


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time, not {raw!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """Plain data with its times in ISO 8601, nested lists of rows included."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, list):
            value = [jsonable(x) if isinstance(x, dict) else x for x in value]
        out[key] = value
    return out


def _session() -> Session:
    db = get_db()
    assert db.sessionmaker is not None
    return db.sessionmaker()


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI description of this API."""
    return jsonify(OPENAPI)


@bp.get("/runs")
def list_runs() -> Response:
    """Runs newest first; filters pipeline, status, trigger, since, until; limit and offset."""
    limit = _int_arg("limit", 50, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, 10_000_000)
    since, until = _time_arg("since"), _time_arg("until")
    values: dict[str, list[str]] = {}
    for name, words in (("pipeline", Pipeline), ("trigger", Trigger), ("status", RunStatus)):
        values[name] = [v for v in request.args.getlist(name) if v]
        allowed = [w.value for w in words]
        if any(v not in allowed for v in values[name]):
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
    query = RunQuery(
        pipelines=values["pipeline"],
        triggers=values["trigger"],
        statuses=values["status"],
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    with _session() as session:
        found, total = matching_runs(session, query)
    items = [jsonable(r) for r in found]
    next_offset = offset + limit if offset + limit < total else None
    return jsonify(
        items=items, total=int(total), limit=limit, offset=offset, next_offset=next_offset
    )


@bp.get("/runs/<run_id>")
def get_run(run_id: str) -> tuple[Response, int] | Response:
    """One run with its stages, the errors of failed stages, its retries and its parent."""
    try:
        rid = uuid.UUID(run_id)
    except ValueError:
        raise BadRequest(f"{run_id!r} is not a run id") from None
    with _session() as session:
        body = run_with_stages(session, rid)
    if body is None:
        return jsonify(error=f"no run {run_id}"), 404
    return jsonify(jsonable(body))


@bp.get("/alerts")
def list_alerts() -> Response:
    """Alerts newest first; status firing (default) / resolved / all; severity; limit."""
    status = request.args.get("status", "firing")
    if status not in {"firing", "resolved", "all"}:
        raise BadRequest("status must be firing, resolved or all")
    limit = _int_arg("limit", 100, 1, 1000)
    severity = request.args.get("severity") or None
    with _session() as session:
        found = alerts(session, None if status == "all" else status, severity, limit)
    return jsonify(items=[alert_dict(a) for a in found])


@bp.get("/slo")
def slo() -> Response:
    """Each SLO: SLI and error budget over 30 days, burn rates, and which alerts would fire."""
    with _session() as session:
        reports = [r.as_dict() for r in slo_reports(session, system_clock())]
    return jsonify(slos=reports)


@bp.get("/status")
def status() -> tuple[Response, int]:
    """Health, SLOs, open alerts, sources and recent runs; 503 when down."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    report = build_status(get_db(app), system_clock(), READINESS.find(app) or [])
    return jsonify(report.as_dict()), 503 if report.verdict == "down" else 200
