"""The Celery executor against real Redis and real `celery worker` processes: a run through
Celery is the same ledger, stages, metrics and trace as a local run; a worker SIGKILLed mid-run
costs nothing but an interrupted attempt; a dead broker fails visibly and loses nothing."""

from __future__ import annotations

import os
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from celery_support import FAST_CELERY, REDIS_URL
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pg_scheduler import free_port, runs, wait_for
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from app import create_app
from app.models import Alert, AuditRecord, StageRun
from scheduler import get_executor, run_now, stop_scheduler, submit_command
from scheduler.alerts import AlertBook
from scheduler.breakglass import DispatchFailed
from scheduler.config import SchedulerConfig
from scheduler.dispatch import DispatchOrder, build_dispatcher
from scheduler.executors import RoutedExecutor, RunRequest
from scheduler.executors.celery.executor import BROKER_ALERT, RECHECK_S, WORKER_ALERT

pytestmark = pytest.mark.postgres


def _app(pg_url: str, tmp_path: Path, executor: str, broker: str = REDIS_URL, **extra: Any):
    config = {
        "var_dir": str(tmp_path / "var"),
        "database_url": pg_url,
        "testing": True,
        "log_level": "WARNING",
        "scheduler_enabled": False,
        "executor": executor,
        "redis_url": broker,
        "metrics_registry": CollectorRegistry(),
        "slo_evaluate_interval_s": 0,
        **{f"celery_{k}": v for k, v in FAST_CELERY.items()},
        **extra,
    }
    return create_app(config)


def _stages(sessions: Any, run_id: Any) -> list[tuple[str, str]]:
    with sessions() as s:
        rows = s.scalars(select(StageRun).where(StageRun.run_id == run_id)).all()
        return sorted((r.stage, r.status) for r in rows)


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _runs_total(samples: dict, pipeline: str, status: str, trigger: str) -> float:
    key = (
        "dugout_pipeline_runs_total",
        (("pipeline", pipeline), ("status", status), ("trigger", trigger)),
    )
    return samples.get(key, 0.0)


def test_a_celery_run_is_the_same_ledger_metrics_and_trace_as_a_local_run(
    start_worker, sessions, pg_url, tmp_path
) -> None:
    worker, port = start_worker("w1")
    local_app = _app(pg_url, tmp_path, "local")
    local = get_executor(local_app).execute_pipeline("collection", trigger="manual", actor="t")
    stop_scheduler(local_app)

    exporter = InMemorySpanExporter()
    app = _app(pg_url, tmp_path, "celery", span_exporter=exporter)
    executor = get_executor(app)
    assert isinstance(executor, RoutedExecutor) and executor.mode() == "celery"
    with trace.get_tracer("test").start_as_current_span("dispatch") as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
        remote = executor.submit_pipeline(
            "collection", trigger="manual", actor="t", priority="critical"
        ).result(timeout=180)  # a worker's first run, on a busy machine
    stop_scheduler(app)

    assert local.status == remote.status == "succeeded"
    by_id = {r.id: r for r in runs(sessions, "collection")}
    assert by_id[remote.run_id].trace_id == trace_id  # the trace crossed the broker
    assert by_id[remote.run_id].status == "succeeded" and by_id[remote.run_id].finished_at
    assert _stages(sessions, remote.run_id) == _stages(sessions, local.run_id)
    assert remote.summary.keys() == local.summary.keys()
    local_samples = {
        "runs": local_app.extensions["dugout.metrics"].registry.get_sample_value(
            "dugout_pipeline_runs_total",
            {"pipeline": "collection", "status": "succeeded", "trigger": "manual"},
        )
    }
    samples = wait_for(lambda: _scrape(port), 10)
    assert _runs_total(samples, "collection", "succeeded", "manual") == local_samples["runs"] == 1
    stage_key = (
        "dugout_pipeline_stages_total",
        (("pipeline", "collection"), ("stage", "collect"), ("status", "succeeded")),
    )
    assert samples[stage_key] == 1
    assert (
        samples[("dugout_celery_tasks_total", (("outcome", "succeeded"), ("queue", "critical")))]
        == 1
    )
    assert worker.poll() is None


def test_sigkill_of_a_worker_mid_run_completes_the_run_exactly_once(
    start_worker, processes, sessions, pg_url, tmp_path
) -> None:
    first, _ = start_worker("w1", DUGOUT_TEST_FETCH_DELAY_S=4)
    app = _app(pg_url, tmp_path, "celery")
    handle = get_executor(app).submit_pipeline("collection", trigger="manual", actor="t")

    def collecting() -> bool:
        with sessions() as s:
            stage = s.scalars(select(StageRun).where(StageRun.run_id == handle.run_id)).first()
            return stage is not None and stage.status == "running"

    wait_for(collecting, 120, step_s=0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool process, mid-stage
    first.wait(10)
    start_worker("w2", DUGOUT_TEST_FETCH_DELAY_S=0)
    # a second worker starts (its imports take tens of seconds on a busy 2-core machine),
    # the task comes back after the visibility timeout and the lock's expiry, and runs
    result = handle.result(timeout=180)
    stop_scheduler(app)

    family = [r for r in runs(sessions, "collection")]
    assert result.status == "succeeded"
    assert [r.status for r in family if r.id == handle.run_id] == ["interrupted"]
    done = [r for r in family if r.status in {"succeeded", "partial"}]
    assert len(done) == 1, [(r.id, r.status) for r in family]
    assert done[0].parent_run_id == handle.run_id and done[0].attempt == 2
    assert done[0].id == result.run_id
    assert all(r.status != "running" for r in family)
    assert "WorkerLost" in {r.error_type for r in family}


def test_unreachable_redis_fails_visibly_loses_nothing_and_local_takes_over(
    sessions, pg_url, tmp_path
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    app = _app(pg_url, tmp_path, "celery", broker=closed)
    with app.test_client() as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503 and "redis" in ready.get_json()["failing"]

    # break-glass: refused with a sentence, and the run is in the ledger as failed
    with pytest.raises(DispatchFailed, match="could not be dispatched"):
        run_now(app, "collection", actor="op", role="operator", reason="test")
    failed = runs(sessions, "collection")
    assert [r.status for r in failed] == ["failed"]
    assert failed[0].error_type == "BrokerUnavailable" and closed in failed[0].error_message

    # a scheduled tick: failed with the reason, a retry kept for later (nothing lost)
    later: list[DispatchOrder] = []
    config = SchedulerConfig(retry_base_s=0.01, retry_jitter=0.0)
    dispatcher = build_dispatcher(
        sessions,
        get_executor(app),
        config,
        later=lambda order, at: later.append(order),
        actor="scheduler:test",
    )
    order = DispatchOrder("collection", "collection", failed[0].created_at, priority="critical")
    outcome = dispatcher.dispatch(order)
    assert outcome.action == "retrying" and "BrokerUnavailable" not in outcome.reason
    with sessions() as s:
        alert = s.scalars(select(Alert).where(Alert.key == BROKER_ALERT)).one()
    assert alert.status == "firing" and "dugout executor local" in alert.message

    # the operator switches to local execution (audited); the kept retry now runs here
    command = submit_command(
        app, "executor", actor="op", role="operator", reason="redis down", params={"mode": "local"}
    )
    wait_for(lambda: get_executor(app).mode() == "local", 5, step_s=0.05)  # switch cache: 1 s
    retried = dispatcher.dispatch(later[0])
    stop_scheduler(app)
    assert retried.action == "ran" and retried.status == "succeeded"
    with sessions() as s:
        audit = s.scalars(select(AuditRecord).where(AuditRecord.action == "executor")).one()
        assert (audit.actor, audit.target, audit.outcome) == ("op", "local", "requested")
    assert command is not None
    rows = runs(sessions, "collection")
    assert [r.status for r in rows] == ["failed", "failed", "succeeded"]
    assert rows[-1].parent_run_id == rows[1].id and rows[-1].attempt == 2


def test_runs_no_worker_takes_fail_with_the_reason_and_page_until_one_does(
    sessions, pg_url, tmp_path
) -> None:
    """Redis is up but no worker consumes the queue: the run is failed once its result is
    overdue (on the executor's injected clock), and a page names the queue and the remedy."""
    app = _app(pg_url, tmp_path, "celery")
    celery = get_executor(app).executors["celery"]
    now = [1000.0]
    celery.monotonic = lambda: now[0]
    try:
        handle = get_executor(app).submit_pipeline(
            "grading", trigger="manual", actor="op", params={}, priority="default"
        )
        assert not handle.done()  # queued on Redis, nobody takes it
        now[0] += celery.config.wait_s + 1  # past the wait: the watcher's next poll ends it
        result = handle.result(timeout=60)
        assert result.status == "failed" and "no result from Celery" in (result.error or "")
        (row,) = runs(sessions, "grading")
        assert (row.status, row.error_type) == ("failed", "ResultTimeout")
        with sessions() as s:
            alert = s.scalars(select(Alert).where(Alert.key == WORKER_ALERT)).one()
        assert alert.status == "firing" and alert.severity == "page"
        assert "'default'" in alert.message and "dugout worker --celery" in alert.message

        # a worker's finished run (the task state Celery reports) resolves the page
        later = RunRequest("grading")
        task_result = {"run_id": str(later.run_id), "pipeline": "grading", "status": "succeeded"}
        finished = celery.settle(later, {"status": "SUCCESS", "result": task_result})
        assert not isinstance(finished, Exception) and finished.status == "succeeded"
        with sessions() as s:
            assert s.scalars(select(Alert).where(Alert.key == WORKER_ALERT)).one().status == (
                "resolved"
            )
        # once an operator has switched to local, runs still waiting on Celery time out quietly
        waiting = get_executor(app).submit_pipeline(
            "grading", trigger="manual", actor="op", params={}, priority="default"
        )
        submit_command(
            app,
            "executor",
            actor="op",
            role="operator",
            reason="workers down",
            params={"mode": "local"},
        )
        now[0] += celery.config.wait_s + 1
        assert waiting.result(timeout=60).status == "failed"
        with sessions() as s:
            pages = s.scalars(select(Alert).where(Alert.key == WORKER_ALERT)).all()
        assert [a.status for a in pages] == ["resolved"]
    finally:
        celery.app.control.purge()  # the queued tasks must not reach a later test's worker
        stop_scheduler(app)


def test_a_page_raised_by_another_process_is_resolved_by_this_ones_good_news(
    sessions, pg_url, tmp_path
) -> None:
    """Each server process dispatches; the one whose worker finishes a run resolves the page even
    if another process raised it, checking the database at most every RECHECK_S."""
    app = _app(pg_url, tmp_path, "celery")
    celery = get_executor(app).executors["celery"]
    now = [1000.0]
    celery.monotonic = lambda: now[0]

    def finished() -> None:
        request = RunRequest("grading")
        data = {"run_id": str(request.run_id), "pipeline": "grading", "status": "succeeded"}
        assert not isinstance(
            celery.settle(request, {"status": "SUCCESS", "result": data}), Exception
        )

    def status() -> str:
        with sessions() as s:
            return s.scalars(select(Alert).where(Alert.key == WORKER_ALERT)).one().status

    try:
        finished()  # this process's first good news looks once (nothing to resolve yet)
        AlertBook(sessions).raise_(
            WORKER_ALERT, "No Celery worker is running pipeline runs", "raised elsewhere"
        )
        now[0] += RECHECK_S - 1
        finished()
        assert status() == "firing"  # not looked again yet: no read on every success
        now[0] += 2
        finished()
        assert status() == "resolved"
    finally:
        stop_scheduler(app)
