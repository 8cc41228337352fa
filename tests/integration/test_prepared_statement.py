"""PreparedStatement on SQLite and PostgreSQL: values converted by their column types as
SQLAlchemy's own path converts them, binds of the statement's own kept, a missing value fails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.db import PreparedStatement
from app.models import PipelineRun

NOW = datetime(2026, 7, 4, 18, 30, 15, 123456, tzinfo=UTC)
RUNS = PipelineRun.__table__


def _row(run_id: uuid.UUID) -> dict[str, object]:
    return {
        "id": run_id,
        "pipeline": "collection",
        "trigger": "manual",
        "status": "running",
        "correlation_id": "c1",
        "params": {"a": [1, "b"]},
        "summary": {},
        "created_at": NOW,
        "started_at": NOW,
        "attempt": 1,
        "fence": "claim",
    }


INSERT = PreparedStatement(
    insert(RUNS).values({k: bindparam(f"r_{k}", type_=RUNS.c[k].type) for k in _row(uuid.uuid4())})
)
FINISH = PreparedStatement(
    update(RUNS)
    .where(RUNS.c.id == bindparam("b_id"), RUNS.c.status == "running")
    .values(status=bindparam("b_status"), finished_at=bindparam("b_at"), claim_token=None)
)


def test_values_round_trip_through_their_column_types(db) -> None:
    run_id = uuid.uuid4()
    with db.engine.begin() as conn:
        INSERT.execute(conn, {f"r_{k}": v for k, v in _row(run_id).items()})
        done = FINISH.execute(conn, {"b_id": run_id, "b_status": "succeeded", "b_at": NOW})
        assert done.rowcount == 1
        again = FINISH.execute(conn, {"b_id": run_id, "b_status": "failed", "b_at": NOW})
        assert again.rowcount == 0  # the statement's own `status = 'running'` still applies
    with db.session() as s:
        run = s.get(PipelineRun, run_id)
        assert (run.status, run.finished_at, run.params) == ("succeeded", NOW, {"a": [1, "b"]})
        assert run.started_at == NOW and run.claim_token is None
        assert s.scalar(select(PipelineRun.id).where(PipelineRun.id == run_id)) == run_id


def test_a_missing_value_fails_instead_of_writing_null(db) -> None:
    row = {f"r_{k}": v for k, v in _row(uuid.uuid4()).items()}
    del row["r_pipeline"]
    with pytest.raises((KeyError, SQLAlchemyError)), db.engine.begin() as conn:
        INSERT.execute(conn, row)
