"""Liveness (/healthz), readiness (/readyz) and the dependency report (/api/health)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import select, text

from app.db import Database, get_db
from app.extensions import CLOCK, READINESS
from app.migrate import is_current

bp = Blueprint("health", __name__)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One dependency check: its name, verdict, how long it took and what went wrong."""

    name: str
    ok: bool
    latency_ms: float
    detail: str = ""


def _timed(name: str, probe: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # a failing dependency is reported by name, never raised
        detail, ok = f"{type(exc).__name__}: {exc}".splitlines()[0][:300], False
    return CheckResult(name, ok, round((time.perf_counter() - started) * 1000, 2), detail)


def check_database(db: Database) -> CheckResult:
    """The database answers a trivial query."""

    def probe() -> str:
        assert db.engine is not None
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return db.engine.dialect.name

    return _timed("database", probe)


def check_migrations(db: Database) -> CheckResult:
    """The schema is at the code's newest migration."""

    def probe() -> str:
        assert db.engine is not None
        if not is_current(db.engine):
            raise RuntimeError("database schema is behind; run `dugout db upgrade`")
        return "current"

    return _timed("migrations", probe)


def readiness_checks(app: Flask) -> list[CheckResult]:
    """Every check that decides whether this instance should receive traffic."""
    db = get_db(app)
    results = [check_database(db)]
    if results[0].ok:
        results.append(check_migrations(db))
    for extra in READINESS.find(app) or []:
        results.append(extra())
    return results


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. No dependency checks."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 when every check passes, else 503 naming the failing checks."""
    results = readiness_checks(current_app._get_current_object())  # type: ignore[attr-defined]
    failing = [r.name for r in results if not r.ok]
    body = {
        "status": "ready" if not failing else "not ready",
        "failing": failing,
        "checks": [asdict(r) for r in results],
    }
    return jsonify(body), (503 if failing else 200)


# The breaker whose state decides whether sources are fetched: the collection job's.
COLLECTION_BREAKER = "collection"


def source_health(db: Database, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sources (freshness, last success and error, quota, the collection breaker) and breakers."""
    from app.models import CircuitBreaker, SourceState

    def iso(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value else None

    with db.session() as session:
        breakers = [
            {
                "name": b.name,
                "state": b.state,
                "consecutive_failures": b.consecutive_failures,
                "opened_at": iso(b.opened_at),
            }
            for b in session.scalars(select(CircuitBreaker).order_by(CircuitBreaker.name))
        ]
        collection = next((b["state"] for b in breakers if b["name"] == COLLECTION_BREAKER), None)
        sources = [
            {
                "source": s.source,
                "freshness_s": round((now - s.newest_update_at).total_seconds(), 1)
                if s.newest_update_at
                else None,
                "newest_update_at": iso(s.newest_update_at),
                "last_fetch_at": iso(s.last_fetch_at),
                "last_success_at": iso(s.last_success_at),
                "last_error_type": s.last_error_type,
                "last_error": s.last_error,
                "quota_remaining": s.quota_remaining,
                "quota_used": s.quota_used,
                "breaker": collection or "closed",
            }
            for s in session.scalars(select(SourceState).order_by(SourceState.source))
        ]
    return sources, breakers


@bp.get("/api/health")
def api_health() -> Response:
    """Every dependency with status, latency and last error; sources with freshness, quota and
    breaker state (login required)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    results = readiness_checks(app)
    body: dict[str, Any] = {
        "status": "ok" if all(r.ok for r in results) else "degraded",
        "checks": [asdict(r) for r in results],
        "sources": [],
        "breakers": [],
    }
    if all(r.ok for r in results if r.name in ("database", "migrations")):
        clock = CLOCK.find(app) or (lambda: datetime.now(UTC))
        try:
            body["sources"], body["breakers"] = source_health(get_db(app), clock())
        except Exception as exc:  # the report still answers when this read fails
            body["sources_error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return jsonify(body)
