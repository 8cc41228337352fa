"""The runner: writes the run ledger first, runs each stage with timing, records the outcome."""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry import trace
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.models import PipelineRun, StageRun
from app.observability.logging import correlation_id_var, log_context_var, new_correlation_id
from app.pipelines.context import PipelineContext, StageOutcome

log = logging.getLogger("dugout.pipelines")

StageFn = Callable[["StageRunContext"], StageOutcome]


def _stages() -> dict[str, list[tuple[str, StageFn]]]:
    from app.pipelines.stages.analyze import analyze
    from app.pipelines.stages.collect import collect
    from app.pipelines.stages.grade import grade
    from app.pipelines.stages.recommend import recommend

    return {
        "collection": [("collect", collect)],
        "analysis": [("analyze", analyze)],
        "recommendations": [("recommend", recommend)],
        "grading": [("grade", grade)],
        "full": [
            ("collect", collect),
            ("analyze", analyze),
            ("recommend", recommend),
            ("grade", grade),
        ],
    }


PIPELINE_NAMES = ("collection", "analysis", "recommendations", "grading", "full")
# A stage runs only when the stage it depends on did not fail.
DEPENDS_ON = {"analyze": "collect", "recommend": "analyze"}


@dataclass(slots=True)
class StageRunContext:
    """What a stage sees: the pipeline context, the run, the time, and results of earlier stages."""

    ctx: PipelineContext
    run_id: uuid.UUID
    now: datetime
    pipeline: str = ""
    results: dict[str, StageOutcome] = field(default_factory=dict)

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory of the pipeline context."""
        return self.ctx.sessions


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """How a run ended: its id, status, a summary per stage, and the error if any."""

    run_id: uuid.UUID
    pipeline: str
    status: str
    summary: dict[str, Any]
    error: str | None = None
    duplicate: bool = False


class DuplicateTick(Exception):
    """This (pipeline, scheduled_for) tick already has a run: it must not run twice."""


def _open_run(
    ctx: PipelineContext,
    pipeline: str,
    trigger: str,
    scheduled_for: datetime | None,
    actor: str | None,
    params: dict[str, Any],
    correlation_id: str,
    run_id: uuid.UUID | None,
    now: datetime,
    trace_id: str | None,
) -> uuid.UUID:
    run = PipelineRun(
        id=run_id or uuid.uuid4(),
        pipeline=pipeline,
        trigger=trigger,
        scheduled_for=scheduled_for,
        status="running",
        actor=actor,
        correlation_id=correlation_id,
        trace_id=trace_id,
        params=params,
        created_at=now,
        started_at=now,
    )
    try:
        with ctx.sessions.begin() as session:
            session.add(run)
    except IntegrityError as exc:
        raise DuplicateTick(f"{pipeline} tick {scheduled_for} already ran") from exc
    return run.id


def _run_stage(src: StageRunContext, name: str, fn: StageFn) -> StageOutcome:
    started_wall = src.ctx.clock()
    started = time.perf_counter()
    stage_id = uuid.uuid4()
    with src.sessions.begin() as session:
        session.add(
            StageRun(
                id=stage_id,
                run_id=src.run_id,
                stage=name,
                status="running",
                started_at=started_wall,
            )
        )
    token = log_context_var.set({**(log_context_var.get() or {}), "stage": name})
    try:
        with _tracer().start_as_current_span(f"stage {name}") as span:
            span.set_attribute("dugout.stage", name)
            span.set_attribute("dugout.run_id", str(src.run_id))
            span.set_attribute("dugout.correlation_id", correlation_id_var.get() or "")
            outcome = fn(src)
            span.set_attribute("dugout.status", outcome.status)
    except Exception as exc:
        log.exception("stage failed", extra={"error_type": type(exc).__name__})
        outcome = StageOutcome(
            status="failed",
            error_type=type(exc).__name__,
            error_message=str(exc)[:2000] or type(exc).__name__,
            detail={"traceback": traceback.format_exc(limit=8)[-4000:]},
        )
    finally:
        log_context_var.reset(token)
    duration_ms = (time.perf_counter() - started) * 1000
    with src.sessions.begin() as session:
        row = session.get(StageRun, stage_id)
        assert row is not None
        row.status = outcome.status
        row.finished_at = src.ctx.clock()
        row.duration_ms = duration_ms
        row.records_in, row.records_out = outcome.records_in, outcome.records_out
        row.error_type, row.error_message = outcome.error_type, outcome.error_message
        row.detail = outcome.detail
    log.info(
        "stage finished",
        extra={
            "status": outcome.status,
            "duration_ms": round(duration_ms, 2),
            "records_in": outcome.records_in,
            "records_out": outcome.records_out,
            "stage": name,
        },
    )
    src.ctx.notify("stage_finished", src.run_id, src.pipeline, name, outcome, duration_ms / 1000)
    return outcome


# A ProxyTracer made once: it finds the provider set later (per process, after fork) and keeps
# it, where get_tracer() per span built a new SDK Tracer every time.
_TRACER = trace.get_tracer("dugout.pipelines")


def _tracer() -> Any:
    return _TRACER


def _run_status(outcomes: dict[str, StageOutcome]) -> str:
    """Failed when every stage that ran failed; partial when some did; skips are neutral
    (their reason is on the stage row), unless nothing ran at all."""
    ran = {o.status for o in outcomes.values()} - {"skipped"}
    if not ran:
        return "skipped"
    if "failed" in ran:
        return "failed" if ran == {"failed"} else "partial"
    return "partial" if "partial" in ran else "succeeded"


def run_pipeline(
    ctx: PipelineContext,
    pipeline: str,
    trigger: str = "manual",
    *,
    scheduled_for: datetime | None = None,
    actor: str | None = None,
    params: dict[str, Any] | None = None,
    correlation_id: str | None = None,
    run_id: uuid.UUID | None = None,
) -> PipelineResult:
    """Run `pipeline` now: ledger row first, then each stage; never raises for a stage failure.

    Raises DuplicateTick when a scheduled tick already has a run (the ledger's unique key).
    """
    stages = _stages().get(pipeline)
    if stages is None:
        raise ValueError(
            f"unknown pipeline {pipeline!r}; choose one of {', '.join(PIPELINE_NAMES)}"
        )
    cid = correlation_id or correlation_id_var.get() or new_correlation_id()
    cid_token = correlation_id_var.set(cid)
    try:
        with _tracer().start_as_current_span(f"pipeline {pipeline}") as span:
            span.set_attribute("dugout.pipeline", pipeline)
            span.set_attribute("dugout.trigger", trigger)
            span.set_attribute("dugout.correlation_id", cid)
            trace_id = span.get_span_context().trace_id
            now = ctx.clock()
            rid = _open_run(
                ctx,
                pipeline,
                trigger,
                scheduled_for,
                actor,
                params or {},
                cid,
                run_id,
                now,
                f"{trace_id:032x}" if trace_id else None,
            )
            span.set_attribute("dugout.run_id", str(rid))
            fields = {"run_id": str(rid), "pipeline": pipeline}
            if actor and trigger == "manual":  # a person ran it: their name is on every line
                fields["user"] = actor
            ctx_token = log_context_var.set(fields)
            try:
                result = _run_stages(
                    ctx,
                    StageRunContext(ctx, rid, now, pipeline),
                    stages,
                    trigger,
                    actor,
                    scheduled_for,
                )
            finally:
                log_context_var.reset(ctx_token)
            span.set_attribute("dugout.status", result.status)
            return result
    finally:
        correlation_id_var.reset(cid_token)


def _run_stages(
    ctx: PipelineContext,
    src: StageRunContext,
    stages: list[tuple[str, StageFn]],
    trigger: str,
    actor: str | None,
    scheduled_for: datetime | None,
) -> PipelineResult:
    started = time.perf_counter()
    log.info("run started", extra={"trigger": trigger, "actor": actor})
    ctx.notify("run_started", src.run_id, src.pipeline, trigger)
    ctx.notify("run_opened", src.run_id, src.pipeline, trigger, scheduled_for, src.now)
    for name, fn in stages:
        upstream = DEPENDS_ON.get(name)
        if upstream in src.results and src.results[upstream].status in {"failed", "skipped"}:
            outcome = _skip(src, name, f"upstream stage {upstream} {src.results[upstream].status}")
        else:
            outcome = _run_stage(src, name, fn)
        src.results[name] = outcome
    status = _run_status(src.results)
    error_type, error = _run_error(src.results)
    summary = {n: o.summary() for n, o in src.results.items()}
    duration_ms = (time.perf_counter() - started) * 1000
    with ctx.sessions.begin() as session:
        run = session.get(PipelineRun, src.run_id)
        assert run is not None
        run.status, run.finished_at, run.duration_ms = status, ctx.clock(), duration_ms
        run.error_type, run.error_message, run.summary = error_type, error, summary
    log.info("run finished", extra={"status": status, "duration_ms": round(duration_ms, 2)})
    ctx.notify("run_finished", src.run_id, src.pipeline, trigger, status, duration_ms / 1000)
    return PipelineResult(src.run_id, src.pipeline, status, summary, error)


def _run_error(outcomes: dict[str, StageOutcome]) -> tuple[str | None, str | None]:
    """The run's error: failed stages first, then partial ones (a source that failed while
    the others were collected is named on the run, not only on its stage)."""
    troubled = [
        (n, o)
        for status in ("failed", "partial")
        for n, o in outcomes.items()
        if o.status == status and o.error_message
    ]
    if not troubled:
        return None, None
    return troubled[0][1].error_type, "; ".join(f"{n}: {o.error_message}" for n, o in troubled)


def _skip(src: StageRunContext, name: str, reason: str) -> StageOutcome:
    outcome = StageOutcome(status="skipped", detail={"reason": reason})
    now = src.ctx.clock()
    with src.sessions.begin() as session:
        session.add(
            StageRun(
                run_id=src.run_id,
                stage=name,
                status="skipped",
                started_at=now,
                finished_at=now,
                duration_ms=0.0,
                detail=outcome.detail,
            )
        )
    log.info("stage skipped", extra={"stage": name, "reason": reason})
    return outcome
