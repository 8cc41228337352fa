"""The runner: opens the run in the ledger first, runs each stage with timing, records the outcome.

Every ledger write goes through app/pipelines/ledger.py (the one writer of run and stage rows).
"""

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
from sqlalchemy.orm import Session, sessionmaker

from app.observability.logging import correlation_id_var, log_context_var, new_correlation_id
from app.observability.tracing import mark_outcome
from app.pipelines.context import PipelineContext, StageOutcome
from app.pipelines.ledger import (
    DuplicateTick,
    RunBatch,
    RunEnding,
    RunHandle,
    RunOpening,
    StageRecord,
    StaleWriter,
    claim_queued,
    open_run,
)
from app.vocabulary import PIPELINE_STAGES, Pipeline, Stage

log = logging.getLogger("dugout.pipelines")
__all__ = ["DuplicateTick", "PipelineResult", "StaleWriter", "run_pipeline"]

StageFn = Callable[["StageRunContext"], StageOutcome]


def _stages() -> dict[str, list[tuple[str, StageFn]]]:
    from app.pipelines.stages.analyze import analyze
    from app.pipelines.stages.collect import collect
    from app.pipelines.stages.grade import grade
    from app.pipelines.stages.recommend import recommend

    fns: dict[Stage, StageFn] = {
        Stage.COLLECT: collect,
        Stage.ANALYZE: analyze,
        Stage.RECOMMEND: recommend,
        Stage.GRADE: grade,
    }
    return {
        pipeline.value: [(stage.value, fns[stage]) for stage in stages]
        for pipeline, stages in PIPELINE_STAGES.items()
    }


PIPELINE_NAMES: tuple[str, ...] = tuple(p.value for p in Pipeline)
# A stage runs only when the stage it depends on did not fail.
DEPENDS_ON = {"analyze": "collect", "recommend": "analyze"}


@dataclass(slots=True)
class StageRunContext:
    """What a stage sees: the pipeline context, the run, the time, and results of earlier stages.

    `sessions` writes under the run's term: a commit after the run lost its claim (or its
    leader) fails with StaleWriter and rolls back whole.
    """

    ctx: PipelineContext
    run_id: uuid.UUID
    now: datetime
    pipeline: str = ""
    results: dict[str, StageOutcome] = field(default_factory=dict)
    handle: RunHandle | None = None
    # Every source's state row as this run's collect left it (None before a collect ran): what
    # analysis judges freshness by, without reading the rows again.
    source_states: dict[str, Any] | None = None

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The run's fenced session factory (the context's own outside a run)."""
        return self.handle.sessions if self.handle is not None else self.ctx.sessions


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """How a run ended: its id, status, a summary per stage, and the error if any."""

    run_id: uuid.UUID
    pipeline: str
    status: str
    summary: dict[str, Any]
    error: str | None = None
    duplicate: bool = False


def _execute_stage(src: StageRunContext, name: str, fn: StageFn) -> StageOutcome:
    """Run one stage whose row is already `running`; a stage's error becomes its outcome."""
    token = log_context_var.set({**(log_context_var.get() or {}), "stage": name})
    try:
        attributes = {  # given at the start: one attribute set, not a locked call per key
            "dugout.stage": name,
            "dugout.run_id": str(src.run_id),
            "dugout.correlation_id": correlation_id_var.get() or "",
        }
        with _tracer().start_as_current_span(f"stage {name}", attributes=attributes) as span:
            outcome = fn(src)
            span.set_attribute("dugout.status", outcome.status)
            mark_outcome(span, outcome.status, outcome.error_message)
    except StaleWriter:
        raise  # the run is no longer ours: nothing more is written
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
    return outcome


def _record(
    name: str, outcome: StageOutcome, started: datetime, ended: datetime, ms: float
) -> StageRecord:
    return StageRecord(
        stage=name,
        status=outcome.status,
        started_at=started,
        finished_at=ended,
        duration_ms=ms,
        records_in=outcome.records_in,
        records_out=outcome.records_out,
        error_type=outcome.error_type,
        error_message=outcome.error_message,
        detail=outcome.detail,
    )


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
    attempt: int = 1,
    parent_run_id: uuid.UUID | None = None,
    leader_epoch: int | None = None,
    queued: bool = False,
    batch: RunBatch | None = None,
) -> PipelineResult:
    """Run `pipeline` now: ledger row first, then each stage; never raises for a stage failure.

    Raises DuplicateTick when a scheduled tick already has a run (the ledger's unique key), and
    StaleWriter when the run's term ended under it (nothing more was written). With `queued`
    the run row exists already (status queued) and is claimed instead of written; with
    `batch` (a replay of the past) the run is written through the ledger's batch entry.
    """
    stages = _stages().get(pipeline)
    if stages is None:
        raise ValueError(
            f"unknown pipeline {pipeline!r}; choose one of {', '.join(PIPELINE_NAMES)}"
        )
    cid = correlation_id or correlation_id_var.get() or new_correlation_id()
    cid_token = correlation_id_var.set(cid)
    try:
        run_id = run_id or uuid.uuid4()
        attributes = {
            "dugout.pipeline": pipeline,
            "dugout.trigger": trigger,
            "dugout.correlation_id": cid,
            "dugout.run_id": str(run_id),
        }
        with _tracer().start_as_current_span(f"pipeline {pipeline}", attributes=attributes) as span:
            trace_id = span.get_span_context().trace_id
            now = ctx.clock()
            opening = RunOpening(
                pipeline=pipeline,
                trigger=trigger,
                run_id=run_id,
                scheduled_for=scheduled_for,
                actor=actor,
                params=params or {},
                correlation_id=cid,
                trace_id=f"{trace_id:032x}" if trace_id else None,
                attempt=attempt,
                parent_run_id=parent_run_id,
                leader_epoch=leader_epoch,
            )
            first = stages[0][0] if stages else None
            if queued:
                handle = claim_queued(
                    ctx.sessions,
                    opening.run_id,
                    now,
                    first_stage=first,
                    clock=ctx.clock,
                    trace_id=opening.trace_id,
                )
                if handle is None:
                    raise StaleWriter(opening.run_id, "the queued run was not there to claim")
            elif batch is not None:
                handle = batch.open(opening, now, first_stage=first, clock=ctx.clock)
            else:
                handle = open_run(ctx.sessions, opening, now, first_stage=first, clock=ctx.clock)
            rid = handle.run_id  # the run id given to the span at its start
            fields = {"run_id": str(rid), "pipeline": pipeline}
            if actor and trigger == "manual":  # a person ran it: their name is on every line
                fields["user"] = actor
            ctx_token = log_context_var.set(fields)
            try:
                result = _run_stages(
                    ctx,
                    StageRunContext(ctx, rid, now, pipeline, handle=handle),
                    stages,
                    trigger,
                    actor,
                    scheduled_for,
                )
            except StaleWriter as exc:
                log.error("run fenced: its term ended; stopping", extra={"why": exc.why})
                raise
            finally:
                handle.close()
                log_context_var.reset(ctx_token)
            span.set_attribute("dugout.status", result.status)
            mark_outcome(span, result.status, f"{pipeline} run {result.status}")
            return result
    finally:
        correlation_id_var.reset(cid_token)


def _skipped(src: StageRunContext, name: str) -> StageRecord | None:
    """The skip record of `name` when the stage it depends on failed or was skipped."""
    upstream = DEPENDS_ON.get(name)
    if upstream not in src.results or src.results[upstream].status not in {"failed", "skipped"}:
        return None
    reason = f"upstream stage {upstream} {src.results[upstream].status}"
    outcome = StageOutcome(status="skipped", detail={"reason": reason})
    src.results[name] = outcome
    log.info("stage skipped", extra={"stage": name, "reason": reason})
    now = src.ctx.clock()
    return StageRecord(name, "skipped", now, now, 0.0, detail=outcome.detail)


def _run_stages(
    ctx: PipelineContext,
    src: StageRunContext,
    stages: list[tuple[str, StageFn]],
    trigger: str,
    actor: str | None,
    scheduled_for: datetime | None,
) -> PipelineResult:
    """Each stage in turn: one transaction per boundary (finish one, start the next)."""
    handle = src.handle
    assert handle is not None
    started = time.perf_counter()
    log.info("run started", extra={"trigger": trigger, "actor": actor})
    ctx.notify("run_started", src.run_id, src.pipeline, trigger)
    ctx.notify("run_opened", src.run_id, src.pipeline, trigger, scheduled_for, src.now)
    finished: StageRecord | None = None
    skipped: list[StageRecord] = []
    stage_started, stage_clock = src.now, started
    for i, (name, fn) in enumerate(stages):
        if i > 0:
            skip = _skipped(src, name)
            if skip is not None:
                skipped.append(skip)
                continue
            stage_started, stage_clock = ctx.clock(), time.perf_counter()
            handle.advance(finished, skipped, name, stage_started)
            if finished is not None:
                _stage_finished(src, finished)
            finished, skipped = None, []
        outcome = _execute_stage(src, name, fn)
        src.results[name] = outcome
        duration_ms = (time.perf_counter() - stage_clock) * 1000
        finished = _record(name, outcome, stage_started, ctx.clock(), duration_ms)
    status = _run_status(src.results)
    error_type, error = _run_error(src.results)
    summary = {n: o.summary() for n, o in src.results.items()}
    duration_ms = (time.perf_counter() - started) * 1000
    ending = RunEnding(status, duration_ms, summary, error_type, error)
    handle.finish(finished, skipped, ending, ctx.clock())
    if finished is not None:
        _stage_finished(src, finished)
    log.info("run finished", extra={"status": status, "duration_ms": round(duration_ms, 2)})
    ctx.notify("run_finished", src.run_id, src.pipeline, trigger, status, duration_ms / 1000)
    return PipelineResult(src.run_id, src.pipeline, status, summary, error)


def _stage_finished(src: StageRunContext, record: StageRecord) -> None:
    """Log and notify a stage's end once its row is committed."""
    log.info(
        "stage finished",
        extra={
            "status": record.status,
            "duration_ms": round(record.duration_ms, 2),
            "records_in": record.records_in,
            "records_out": record.records_out,
            "stage": record.stage,
        },
    )
    outcome = src.results[record.stage]
    src.ctx.notify(
        "stage_finished", src.run_id, src.pipeline, record.stage, outcome, record.duration_ms / 1000
    )


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
