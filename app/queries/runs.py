"""The run ledger read: pipeline summaries, recent runs, the filtered and paged run history,
one run with its stages and attempts, and each pipeline's last scheduled tick."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import PipelineRun, StageRun
from app.pipelines.reasons import run_reason, stage_reason
from app.queries.paging import Block, contains_conditions, order_terms
from app.rollups import run_days
from app.rollups.slices import DAY, aware, ceil_to, floor_to, settled_before
from app.vocabulary import RunStatus


@dataclass(frozen=True, slots=True)
class PipelineSummary:
    """One pipeline's runs in a window: counts by outcome and mean duration."""

    pipeline: str
    runs: int
    succeeded: int
    failed: int
    avg_ms: float | None
    max_ms: float | None
    last_started_at: datetime | None

    @property
    def success_rate(self) -> float | None:
        """Share of finished runs that succeeded, or None with no finished runs."""
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run of the ledger as the tables list it."""

    id: uuid.UUID
    pipeline: str
    status: str
    trigger: str
    actor: str | None
    attempt: int
    started_at: datetime | None
    duration_ms: float | None
    error: str | None
    reason: str = ""  # app.pipelines.reasons.run_reason: skip, throttle or partial, in words


def run_totals(
    session: Session,
    since: datetime | None,
    now: datetime,
    until: datetime | None = None,
    **equal: str | None,
) -> run_days.Totals:
    """Runs created in [since, until) per (pipeline, status, trigger): [runs, timed, sum ms,
    max ms, last started], whole settled days from the day rollup and the edges from the
    ledger; `equal` filters columns (None: any)."""
    wanted = {k: v for k, v in equal.items() if v}
    if since is None:
        first = session.scalar(select(func.min(PipelineRun.created_at)))
        if first is None:
            return {}
        since = floor_to(aware(first), DAY)
    lo, hi = ceil_to(since, DAY), settled_before(now, DAY)
    if until is not None:
        hi = min(hi, floor_to(until, DAY))
    totals: run_days.Totals = {}
    if lo < hi:
        run_days.settled_totals(session, lo, hi, wanted, totals)
        run_days.ledger_totals(session, [(since, lo), (hi, until)], wanted, totals)
    else:
        run_days.ledger_totals(session, [(since, until)], wanted, totals)
    return totals


def pipeline_summaries(session: Session, since: datetime, now: datetime) -> list[PipelineSummary]:
    """Per pipeline since `since`: runs, successes, failures, mean and max duration."""
    per: dict[str, list[Any]] = {}
    for (pipeline, status, _trigger), (n, timed, total_ms, max_ms, last) in run_totals(
        session, since, now
    ).items():
        cur = per.setdefault(pipeline, [0, 0, 0, 0, 0.0, None, None])
        cur[0] += n
        cur[1] += n if status == RunStatus.SUCCEEDED else 0
        cur[2] += n if status in (RunStatus.FAILED, RunStatus.PARTIAL) else 0
        cur[3] += timed
        cur[4] += total_ms
        if max_ms is not None:
            cur[5] = max_ms if cur[5] is None else max(cur[5], max_ms)
        if last is not None:
            cur[6] = last if cur[6] is None else max(cur[6], last)
    return [
        PipelineSummary(
            pipeline,
            n,
            ok,
            bad,
            total_ms / timed if timed else None,
            float(max_ms) if max_ms is not None else None,
            last,
        )
        for pipeline, (n, ok, bad, timed, total_ms, max_ms, last) in sorted(per.items())
    ]


_ROW = (
    PipelineRun.id,
    PipelineRun.pipeline,
    PipelineRun.status,
    PipelineRun.trigger,
    PipelineRun.actor,
    PipelineRun.attempt,
    PipelineRun.started_at,
    PipelineRun.duration_ms,
    PipelineRun.error_message,
    PipelineRun.summary,
)


def _rows(found: Iterable[Any]) -> list[RunRow]:
    return [
        RunRow(
            r.id,
            r.pipeline,
            r.status,
            r.trigger,
            r.actor,
            r.attempt,
            r.started_at,
            r.duration_ms,
            r.error_message,
            run_reason(r.status, r.summary, r.error_message),
        )
        for r in found
    ]


def recent_runs(session: Session, limit: int = 20) -> list[RunRow]:
    """The newest runs, newest first."""
    return _rows(
        session.execute(select(*_ROW).order_by(PipelineRun.created_at.desc()).limit(limit))
    )


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Filters of the run history: each a set of allowed values (empty: any) and a window."""

    pipeline: str | None = None
    status: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(f: RunFilter) -> list[Any]:
    r = PipelineRun
    conds: list[Any] = []
    for column, value in ((r.pipeline, f.pipeline), (r.status, f.status), (r.trigger, f.trigger)):
        if value:
            conds.append(column == value)
    if f.since:
        conds.append(r.created_at >= f.since)
    if f.until:
        conds.append(r.created_at < f.until)
    return conds


# What a grid of runs may sort and filter by: its column keys -> columns (nothing else).
RUN_SORTS: dict[str, Any] = {
    "started_at": PipelineRun.started_at,
    "pipeline": PipelineRun.pipeline,
    "status": PipelineRun.status,
    "trigger": PipelineRun.trigger,
    "actor": PipelineRun.actor,
    "attempt": PipelineRun.attempt,
    "duration_ms": PipelineRun.duration_ms,
}
RUN_FILTERS: dict[str, Any] = {"actor": PipelineRun.actor, "error": PipelineRun.error_message}


def runs_page(
    session: Session,
    f: RunFilter,
    page: int,
    page_size: int,
    now: datetime,
    block: Block | None = None,
) -> tuple[list[RunRow], int]:
    """One page of the run history, newest first, and the total count (server-side paging).
    A grid's `block` chooses the rows (offset and size), their order and text filters."""
    offset, limit = (block.start, block.size) if block else (page * page_size, page_size)
    texts = contains_conditions(block, RUN_FILTERS)
    rows = session.execute(
        select(*_ROW)
        .where(*_where(f), *texts)
        .order_by(
            *order_terms(block.order if block else (), RUN_SORTS),
            PipelineRun.created_at.desc(),
            PipelineRun.id,
        )
        .offset(offset)
        .limit(limit)
    )
    if texts:  # the rollup's counts know nothing of text filters
        total = session.scalar(
            select(func.count()).select_from(PipelineRun).where(*_where(f), *texts)
        )
        return _rows(rows), int(total or 0)
    totals = run_totals(
        session, f.since, now, f.until, pipeline=f.pipeline, status=f.status, trigger=f.trigger
    )
    return _rows(rows), sum(v[0] for v in totals.values())


@dataclass(frozen=True, slots=True)
class RunQuery:
    """The JSON API's run filters: any of several values per column, a window, a page."""

    pipelines: Sequence[str] = ()
    triggers: Sequence[str] = ()
    statuses: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    offset: int = 0


def run_fields(r: PipelineRun) -> dict[str, Any]:
    """A run row as plain data."""
    return {
        "id": str(r.id),
        "pipeline": r.pipeline,
        "trigger": r.trigger,
        "status": r.status,
        "actor": r.actor,
        "scheduled_for": r.scheduled_for,
        "created_at": r.created_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "duration_ms": r.duration_ms,
        "attempt": r.attempt,
        "parent_run_id": str(r.parent_run_id) if r.parent_run_id else None,
        "correlation_id": r.correlation_id,
        "trace_id": r.trace_id,
        "error_type": r.error_type,
        "error_message": r.error_message,
        "reason": run_reason(r.status, r.summary, r.error_message),
    }


def stage_fields(s: StageRun) -> dict[str, Any]:
    """A stage row as plain data."""
    return {
        "id": str(s.id),
        "stage": s.stage,
        "status": s.status,
        "attempt": s.attempt,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
        "duration_ms": s.duration_ms,
        "records_in": s.records_in,
        "records_out": s.records_out,
        "error_type": s.error_type,
        "error_message": s.error_message,
        "detail": s.detail,
    }


def matching_runs(session: Session, q: RunQuery) -> tuple[list[dict[str, Any]], int]:
    """Runs matching `q`, newest first, one page of them and how many match in all."""
    r = PipelineRun
    where: list[Any] = []
    for column, values in ((r.pipeline, q.pipelines), (r.trigger, q.triggers)):
        if values:
            where.append(column.in_(list(values)))
    if q.statuses:
        where.append(r.status.in_(list(q.statuses)))
    if q.since:
        where.append(r.created_at >= q.since)
    if q.until:
        where.append(r.created_at < q.until)
    total = session.scalar(select(func.count()).select_from(r).where(*where)) or 0
    runs = session.scalars(
        select(r).where(*where).order_by(r.created_at.desc(), r.id).limit(q.limit).offset(q.offset)
    )
    return [run_fields(x) for x in runs], int(total)


def run_with_stages(session: Session, run_id: uuid.UUID) -> dict[str, Any] | None:
    """One run with its stages, the errors of failed stages and its retries, or None."""
    run = session.get(PipelineRun, run_id)
    if run is None:
        return None
    stages = session.scalars(
        select(StageRun).where(StageRun.run_id == run_id).order_by(StageRun.started_at)
    ).all()
    retries = session.scalars(
        select(PipelineRun)
        .where(PipelineRun.parent_run_id == run_id)
        .order_by(PipelineRun.created_at)
    ).all()
    body = run_fields(run)
    body["summary"] = run.summary
    body["params"] = run.params
    body["stages"] = [stage_fields(s) for s in stages]
    body["errors"] = [
        {
            "stage": s.stage,
            "error_type": s.error_type,
            "error_message": s.error_message,
            "traceback": (s.detail or {}).get("traceback"),
        }
        for s in stages
        if s.status == RunStatus.FAILED or s.error_type
    ]
    body["retries"] = [run_fields(x) for x in retries]
    return body


def run_detail(session: Session, run_id: str) -> dict[str, Any] | None:
    """A run with its stages, retries (runs sharing its parent) and error, for the run page."""
    try:
        rid = uuid.UUID(run_id)
    except ValueError:
        return None
    run = session.get(PipelineRun, rid)
    if run is None:
        return None
    stages = session.scalars(
        select(StageRun).where(StageRun.run_id == rid).order_by(StageRun.started_at)
    ).all()
    root = run.parent_run_id or run.id
    attempts = session.execute(
        select(PipelineRun.id, PipelineRun.attempt, PipelineRun.status)
        .where((PipelineRun.parent_run_id == root) | (PipelineRun.id == root))
        .order_by(PipelineRun.attempt)
    ).all()
    return {
        **run_fields(run),
        "summary": run.summary,
        "params": run.params,
        "attempts": [{"id": str(a[0]), "attempt": a[1], "status": a[2]} for a in attempts],
        "stages": [
            {
                "stage": s.stage,
                "status": s.status,
                "started_at": s.started_at,
                "finished_at": s.finished_at or s.started_at,
                "duration_ms": s.duration_ms,
                "records_in": s.records_in,
                "records_out": s.records_out,
                "error_type": s.error_type,
                "error_message": s.error_message,
                "reason": stage_reason(s.detail),
                "detail": s.detail or {},
            }
            for s in stages
        ],
    }


@dataclass(frozen=True, slots=True)
class LastTick:
    """The newest scheduled run of one pipeline."""

    run_id: uuid.UUID
    status: str
    scheduled_for: datetime | None
    reason: str = ""


def last_scheduled_runs(session: Session, pipelines: Iterable[str]) -> dict[str, LastTick]:
    """The newest tick of each pipeline (any trigger: analysis and recommendations run chained,
    as `dependency`, and a tick has one run), with its reason: one backward step on the ledger's
    unique (pipeline, scheduled_for) index per pipeline, never a scan of a year of runs."""
    r = PipelineRun
    last: dict[str, LastTick] = {}
    for pipeline in sorted(set(pipelines)):
        row = session.execute(
            select(r.id, r.status, r.scheduled_for, r.summary, r.error_message)
            .where(
                r.pipeline == pipeline,
                r.scheduled_for.is_not(None),  # NULLs sort first on PostgreSQL
            )
            .order_by(r.scheduled_for.desc())
            .limit(1)
        ).first()
        if row is not None:
            last[pipeline] = LastTick(row[0], row[1], row[2], run_reason(row[1], row[3], row[4]))
    return last
