"""JSON API for tools and the CLI: runs (filters, paging), one run with stages and retries,
alerts, SLOs and the status picture. Login (session or API token) is enforced by app.auth."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api_spec import OPENAPI
from app.db import get_db
from app.models import Alert, PipelineRun, StageRun
from app.observability.slo import slo_reports
from app.observability.status import alert_dict, build_status
from app.pipelines.context import system_clock
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def run_dict(r: PipelineRun) -> dict[str, Any]:
    """A run row as plain data."""
    return {
        "id": str(r.id),
        "pipeline": r.pipeline,
        "trigger": r.trigger,
        "status": r.status,
        "actor": r.actor,
        "scheduled_for": _iso(r.scheduled_for),
        "created_at": _iso(r.created_at),
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
        "duration_ms": r.duration_ms,
        "attempt": r.attempt,
        "parent_run_id": str(r.parent_run_id) if r.parent_run_id else None,
        "correlation_id": r.correlation_id,
        "trace_id": r.trace_id,
        "error_type": r.error_type,
        "error_message": r.error_message,
    }


def stage_dict(s: StageRun) -> dict[str, Any]:
    """A stage row as plain data."""
    return {
        "id": str(s.id),
        "stage": s.stage,
        "status": s.status,
        "attempt": s.attempt,
        "started_at": _iso(s.started_at),
        "finished_at": _iso(s.finished_at),
        "duration_ms": s.duration_ms,
        "records_in": s.records_in,
        "records_out": s.records_out,
        "error_type": s.error_type,
        "error_message": s.error_message,
        "detail": s.detail,
    }


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
    where: list[Any] = []
    for name, column, words in (
        ("pipeline", PipelineRun.pipeline, Pipeline),
        ("trigger", PipelineRun.trigger, Trigger),
        ("status", PipelineRun.status, RunStatus),
    ):
        values = [v for v in request.args.getlist(name) if v]
        allowed = [w.value for w in words]
        if any(v not in allowed for v in values):
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
        if values:
            where.append(column.in_(values))
    if since:
        where.append(PipelineRun.created_at >= since)
    if until:
        where.append(PipelineRun.created_at < until)
    with _session() as session:
        total = session.scalar(select(func.count()).select_from(PipelineRun).where(*where)) or 0
        runs = session.scalars(
            select(PipelineRun)
            .where(*where)
            .order_by(PipelineRun.created_at.desc(), PipelineRun.id)
            .limit(limit)
            .offset(offset)
        ).all()
        items = [run_dict(r) for r in runs]
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
        run = session.get(PipelineRun, rid)
        if run is None:
            return jsonify(error=f"no run {run_id}"), 404
        stages = session.scalars(
            select(StageRun).where(StageRun.run_id == rid).order_by(StageRun.started_at)
        ).all()
        retries = session.scalars(
            select(PipelineRun)
            .where(PipelineRun.parent_run_id == rid)
            .order_by(PipelineRun.created_at)
        ).all()
        body = run_dict(run)
        body["summary"] = run.summary
        body["params"] = run.params
        body["stages"] = [stage_dict(s) for s in stages]
        body["errors"] = [
            {
                "stage": s.stage,
                "error_type": s.error_type,
                "error_message": s.error_message,
                "traceback": (s.detail or {}).get("traceback"),
            }
            for s in stages
            if s.status == "failed" or s.error_type
        ]
        body["retries"] = [run_dict(r) for r in retries]
    return jsonify(body)


@bp.get("/alerts")
def list_alerts() -> Response:
    """Alerts newest first; status firing (default) / resolved / all; severity; limit."""
    status = request.args.get("status", "firing")
    if status not in {"firing", "resolved", "all"}:
        raise BadRequest("status must be firing, resolved or all")
    limit = _int_arg("limit", 100, 1, 1000)
    query = select(Alert).order_by(Alert.fired_at.desc()).limit(limit)
    if status != "all":
        query = query.where(Alert.status == status)
    if request.args.get("severity"):
        query = query.where(Alert.severity == request.args["severity"])
    with _session() as session:
        items = [alert_dict(a) for a in session.scalars(query)]
    return jsonify(items=items)


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
    report = build_status(get_db(app), system_clock(), app.extensions.get("dugout.readiness", []))
    return jsonify(report.as_dict()), 503 if report.verdict == "down" else 200
